package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Sender delivers the desk's queued mail over SMTP. It takes messages from
// the Outbox and marks each sent only once the mail server has accepted
// it, so mail queued while the server is down goes out when it is back.
type Sender struct {
	Outbox Outbox
	Addr   string // host:port of the SMTP server
	From   string // envelope and header sender
	// Username and Password, if set, authenticate with PLAIN (which
	// net/smtp sends only over TLS or to localhost).
	Username, Password string
	// Interval between polls of the outbox; 0 means 10 seconds.
	Interval time.Duration
	// Timeout for one SMTP conversation; 0 means 30 seconds.
	Timeout time.Duration
	// TLS, if set, is used for STARTTLS; else the server name from Addr.
	TLS    *tls.Config
	Logger *slog.Logger
	Now    func() time.Time
}

// Run sends queued mail until ctx is done.
func (s *Sender) Run(ctx context.Context) error {
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("mail sender: from address %q: %w", s.From, err)
	}
	interval := s.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SendPending(ctx); err != nil && ctx.Err() == nil {
			s.logger().Warn("mail", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// SendPending sends what is queued now and returns how many went out. It
// stops at the first failure to reach the server (the rest would fail
// too) after recording it.
func (s *Sender) SendPending(ctx context.Context) (int, error) {
	msgs, err := s.Outbox.PendingMail(ctx, 50)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	sent := 0
	for _, m := range msgs {
		if err := s.send(m); err != nil {
			if merr := s.Outbox.MarkFailed(ctx, m.ID, err.Error()); merr != nil {
				return sent, fmt.Errorf("mail %d: %v; and recording it: %w", m.ID, err, merr)
			}
			return sent, fmt.Errorf("mail %d to %s: %w", m.ID, m.To, err)
		}
		if err := s.Outbox.MarkSent(ctx, m.ID); err != nil {
			// Sent but not marked: it may go out twice, never zero times.
			return sent, fmt.Errorf("mail %d sent but not marked: %w", m.ID, err)
		}
		s.logger().Info("mail sent", "id", m.ID)
		sent++
	}
	return sent, nil
}

// errBadMail is a queued message that can never be sent as it is.
var errBadMail = errors.New("bad message")

func (s *Sender) send(m Mail) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("%w: recipient %q: %v", errBadMail, m.To, err)
	}
	from, _ := mail.ParseAddress(s.From)
	msg, err := s.compose(from, to, m)
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	conn, err := net.DialTimeout("tcp", s.Addr, timeout)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose writes an RFC 5322 message: UTF-8 text, base64 in the body and
// RFC 2047 in the subject, so Japanese text passes any mail server.
func (s *Sender) compose(from, to *mail.Address, m Mail) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: subject has a line break", errBadMail)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	id := make([]byte, 12)
	rand.Read(id)
	domain := "oat.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok {
		domain = d
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.BEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "base64")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes(), nil
}
