package cli

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/portal"
)

func portalCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "portal",
		Usage: "serve the operator's web page, the activation API and the desk staff's area",
		Description: "Serves until SIGINT or SIGTERM, then finishes the requests in flight.\n" +
			"Staff sign in with the token in --staff-token-file (or $OAT_PORTAL_TOKEN) or the password\n" +
			"whose argon2id hash is in --staff-password-hash-file (or $OAT_PORTAL_PASSWORD_HASH; make one\n" +
			"with `oat portal hash-password`). Approval mail queued in the ledger goes out through --smtp.",
		Flags: []ucli.Flag{
			// Required, but checked by the action: urfave would demand them
			// of the hash-password subcommand too.
			&ucli.StringFlag{Name: "db", Usage: "the ledger: a SQLite file `DSN` or postgres://... (required)"},
			&ucli.StringFlag{Name: "key", Usage: "the vendor private key `VENDOR.key` that signs licenses (required)"},
			&ucli.StringFlag{Name: "listen", Usage: "listen on `ADDR`", Value: "127.0.0.1:8080"},
			&ucli.StringFlag{Name: "base-url", Usage: "the portal's public `URL`, for links in mail (default http://ADDR)"},
			&ucli.StringFlag{Name: "staff-token-file", Usage: "admin token for the staff area, first line of `FILE` (else $OAT_PORTAL_TOKEN)"},
			&ucli.StringFlag{Name: "staff-password-hash-file", Usage: "argon2id hash of the staff password, first line of `FILE` (else $OAT_PORTAL_PASSWORD_HASH)"},
			&ucli.StringFlag{Name: "smtp", Usage: "send queued mail through the SMTP server at `HOST:PORT`"},
			&ucli.StringFlag{Name: "smtp-from", Usage: "sender `ADDRESS` of the mail", Value: "oat license desk <noreply@localhost>"},
			&ucli.StringFlag{Name: "smtp-user", Usage: "SMTP `USER` (password in $OAT_SMTP_PASSWORD)"},
			&ucli.DurationFlag{Name: "smtp-interval", Usage: "how often to look for queued mail", Value: 10 * time.Second},
			&ucli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with the certificate chain in `FILE`"},
			&ucli.StringFlag{Name: "tls-key", Usage: "the certificate's private key `FILE`"},
			&ucli.Float64Flag{Name: "rate", Usage: "API calls and form posts one client address may make per minute", Value: 60},
			&ucli.IntFlag{Name: "burst", Usage: "how many of those may come at once", Value: 20},
			&ucli.Float64Flag{Name: "installation-rate", Usage: "online calls (activations, check-ins, releases) one installation may make per minute", Value: 10},
			&ucli.IntFlag{Name: "installation-burst", Usage: "how many of those may come at once", Value: 10},
			&ucli.StringFlag{Name: "desk-name", Usage: "the desk's `NAME` in the licenses it issues", Value: desk.DefaultName},
			passphraseFlag,
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			for _, f := range []string{"db", "key"} {
				if c.String(f) == "" {
					return usagef("portal: --%s is required", f)
				}
			}
			return e.runPortal(c)
		},
		Subcommands: []*ucli.Command{{
			Name:  "hash-password",
			Usage: "print the argon2id hash of a staff password, for --staff-password-hash-file",
			Description: "The password is read like a key passphrase: --passphrase-file, $OAT_PASSPHRASE,\n" +
				"or a prompt. Only the hash is printed.",
			Flags: []ucli.Flag{passphraseFlag},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				pw, err := e.passphrase(c, "the staff password", true)
				if err != nil {
					return err
				}
				h, err := portal.HashPassword(pw, portal.DefaultPasswordParams)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, h)
				return nil
			},
		}},
	}
}

// firstLine reads a one-line secret from flag's file, else from the
// environment variable.
func (e *env) firstLine(c *ucli.Context, flag, envVar string) (string, error) {
	if path := c.String(flag); path != "" {
		data, err := atomicfile.ReadCapped(path, 4096)
		if err != nil {
			return "", fmt.Errorf("--%s %s: %w", flag, path, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		line = strings.TrimSpace(line)
		if line == "" {
			return "", fmt.Errorf("--%s %s: the first line is empty", flag, path)
		}
		return line, nil
	}
	return strings.TrimSpace(e.getenv(envVar)), nil
}

func (e *env) runPortal(c *ucli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	token, err := e.firstLine(c, "staff-token-file", "OAT_PORTAL_TOKEN")
	if err != nil {
		return err
	}
	hash, err := e.firstLine(c, "staff-password-hash-file", "OAT_PORTAL_PASSWORD_HASH")
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if cert, key := c.String("tls-cert"), c.String("tls-key"); cert != "" || key != "" {
		if cert == "" || key == "" {
			return usagef("portal: --tls-cert and --tls-key go together")
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("portal: TLS certificate %s: %w", cert, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}

	keyPath := c.String("key")
	pass, err := e.passphrase(c, keyPath, false)
	if err != nil {
		return err
	}
	vendor, err := keys.LoadPrivateKey(keyPath, pass)
	if err != nil {
		return err // names the key file already
	}
	// Sessions are keyed from the vendor key so that every portal of one
	// desk accepts the others' sessions; the key itself stays here.
	sessionKey, err := hkdf.Key(sha256.New, vendor.Seed(), nil, "oat portal staff sessions v1", 32)
	if err != nil {
		return err
	}

	db, err := ledger.OpenExisting(ctx, c.String("db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		return fmt.Errorf("ledger %s: %w", db, err)
	}

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	base := c.String("base-url")
	if base == "" {
		base = scheme + "://" + ln.Addr().String()
	}

	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	d := desk.New(db, desk.Options{Name: c.String("desk-name")})
	backend := portal.NewLedgerDesk(d, vendor, base)
	srv, err := portal.New(portal.Config{
		Desk: backend, Online: backend, SessionKey: sessionKey, StaffToken: token, StaffPasswordHash: hash,
		BaseURL: base, RatePerMinute: c.Float64("rate"), Burst: c.Int("burst"), Logger: log,
		InstallationRatePerMinute: c.Float64("installation-rate"), InstallationBurst: c.Int("installation-burst"),
	})
	if err != nil {
		ln.Close()
		return err
	}
	if token == "" && hash == "" {
		log.Warn("no staff token or password hash: the staff area is closed")
	}

	mailDone := make(chan struct{})
	if addr := c.String("smtp"); addr != "" {
		s := &portal.Sender{Outbox: backend, Addr: addr, From: c.String("smtp-from"),
			Username: c.String("smtp-user"), Password: e.getenv("OAT_SMTP_PASSWORD"),
			Interval: c.Duration("smtp-interval"), Logger: log}
		go func() {
			defer close(mailDone)
			if err := s.Run(ctx); err != nil {
				log.Error("mail sender stopped", "err", err)
			}
		}()
	} else {
		close(mailDone)
		log.Warn("no --smtp: approval mail stays queued in the ledger until a portal with --smtp sends it")
	}

	fmt.Fprintf(e.stdout, "oat portal: serving %s (listening on %s)\n", base, ln.Addr())
	err = srv.Serve(ctx, ln, tlsConfig, 10*time.Second)
	stop()
	<-mailDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("portal: %w", err)
	}
	fmt.Fprintln(e.stdout, "oat portal: stopped")
	return nil
}
