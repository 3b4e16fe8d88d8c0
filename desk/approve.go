package desk

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"

	"github.com/oat-toolkit/oat/ledger"
)

// Approve lets an e-mail address activate on an order (A8), decided by
// the desk (or the purchaser, through the portal's link).
func (d *Desk) Approve(ctx context.Context, order, email, by string) error {
	return d.Decide(ctx, order, email, true, by)
}

// Decide approves or denies an address on an order.
func (d *Desk) Decide(ctx context.Context, order, email string, approve bool, by string) error {
	email = normEmail(email)
	if err := validText("e-mail", email, 200, true); err != nil {
		return err
	}
	if !strings.Contains(email, "@") {
		return fmt.Errorf("%w: e-mail %q is not an address", ErrInvalidInput, email)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Order(ctx, order); err != nil {
			return err
		}
		e, err := tx.Email(ctx, order, email)
		if isNotFound(err) {
			e = ledger.Email{Order: order, Email: email, Requested: now}
		} else if err != nil {
			return err
		}
		e.State, e.Decided, e.DecidedBy, e.TokenHash, e.TokenExpires = "denied", now, by, nil, 0
		action := "email.deny"
		if approve {
			e.State, action = "approved", "email.approve"
		}
		if err := tx.PutEmail(ctx, e); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, action, order, "", map[string]any{"email": email})
	})
}

// hashToken is how approval link tokens are stored: a leaked ledger does
// not give working links.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func newToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// RequestApproval records that an address asks to use an order (A8) and
// queues a mail to the purchaser with a link token valid ApprovalTTL (A7),
// which it returns (the ledger keeps only its hash). link turns the token
// into the URL the mail carries. An order without a purchaser address is
// approved by the desk by hand; no mail is queued then.
func (d *Desk) RequestApproval(ctx context.Context, order, email, host string, link func(token string) string) (string, error) {
	email = normEmail(email)
	if err := validText("e-mail", email, 200, true); err != nil {
		return "", err
	}
	if err := validText("host", host, 200, false); err != nil {
		return "", err
	}
	token := newToken()
	now := d.now()
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		o, err := tx.Order(ctx, order)
		if err != nil {
			return err
		}
		if email == o.Email {
			return fmt.Errorf("%w: %s is the purchaser's address", ErrInvalidInput, email)
		}
		e, err := tx.Email(ctx, order, email)
		switch {
		case err == nil && e.State == "approved":
			return fmt.Errorf("%w: %s is approved already", ErrConflict, email)
		case err != nil && !isNotFound(err):
			return err
		}
		e = ledger.Email{Order: order, Email: email, State: "pending", Requested: now.Unix(), Host: host,
			TokenHash: hashToken(token), TokenExpires: now.Add(ApprovalTTL).Unix()}
		if err := tx.PutEmail(ctx, e); err != nil {
			return err
		}
		if o.Email != "" {
			if err := queueApprovalMail(ctx, tx, o, email, host, link(token), e.TokenExpires, now.Unix()); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now.Unix(), email, "email.request", order, "", map[string]any{"email": email, "host": host})
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// queueApprovalMail queues the purchaser's approval mail, in Japanese and
// English: the people who buy and approve in the source documents work in
// Japanese, and the portal's page offers both.
func queueApprovalMail(ctx context.Context, tx *ledger.Tx, o ledger.Order, email, host, link string, expires, now int64) error {
	// The address and the host come from the requester: in a mail the
	// purchaser trusts, they must not pass for the desk's own words.
	email, host = mailText(email, maxMailEmail), mailText(host, maxMailHost)
	until := timeUTC(expires).Format("2006-01-02 15:04")
	var ja, en string
	if host != "" {
		ja = fmt.Sprintf("%s から、オーダー %s をサーバー %s でアクティベートする申請がありました。", email, o.ID, host)
		en = fmt.Sprintf("%s asks to activate order %s on the server %s.", email, o.ID, host)
	} else {
		ja = fmt.Sprintf("%s から、オーダー %s をアクティベートする申請がありました。", email, o.ID)
		en = fmt.Sprintf("%s asks to activate order %s.", email, o.ID)
	}
	body := ja + "\n\n" +
		fmt.Sprintf("次のリンクから承認または拒否してください（リンクの有効期限: %s UTC）。\n%s\n\n", until, link) +
		"心当たりがない場合は拒否してください。\n\n" +
		"----------------------------------------\n\n" +
		en + "\n\n" +
		fmt.Sprintf("Approve or deny it here (the link is valid until %s UTC):\n%s\n\nIf you did not expect this, deny it.\n", until, link)
	subject := fmt.Sprintf("承認のお願い / Approve %s for order %s", email, o.ID)
	return tx.QueueMail(ctx, ledger.Mail{To: o.Email, Subject: subject, Body: body, Created: now})
}

// ApprovalByToken returns the approval a link token names. An expired link
// returns the approval and an error wrapping ErrExpired.
func (d *Desk) ApprovalByToken(ctx context.Context, token string) (*ledger.Email, error) {
	var out ledger.Email
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.EmailByToken(ctx, hashToken(token))
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.TokenExpires < d.now().Unix() {
		return &out, fmt.Errorf("%w: the approval link for %s on order %s", ErrExpired, out.Email, out.Order)
	}
	return &out, nil
}

// DecideByToken approves or denies through a purchaser's link, once, and
// only while it is valid.
func (d *Desk) DecideByToken(ctx context.Context, token string, approve bool) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		e, err := tx.EmailByToken(ctx, hashToken(token))
		if err != nil {
			return err
		}
		if e.TokenExpires < now {
			return fmt.Errorf("%w: the approval link for %s on order %s", ErrExpired, e.Email, e.Order)
		}
		o, err := tx.Order(ctx, e.Order)
		if err != nil {
			return err
		}
		e.State, e.Decided, e.DecidedBy, e.TokenHash, e.TokenExpires = "denied", now, o.Email, nil, 0
		action := "email.deny"
		if approve {
			e.State, action = "approved", "email.approve"
		}
		if err := tx.PutEmail(ctx, e); err != nil {
			return err
		}
		return audit(ctx, tx, now, o.Email, action, e.Order, "", map[string]any{"email": e.Email, "via": "link"})
	})
}

// RenewApproval replaces an expired link with a fresh one, valid
// ApprovalTTL, mailed to the purchaser again (A7), and returns it.
func (d *Desk) RenewApproval(ctx context.Context, token string, link func(token string) string) (string, error) {
	fresh := newToken()
	now := d.now().Unix()
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		e, err := tx.EmailByToken(ctx, hashToken(token))
		if err != nil {
			return err
		}
		if e.State != "pending" {
			return fmt.Errorf("%w: the approval for %s on order %s was decided already", ErrConflict, e.Email, e.Order)
		}
		o, err := tx.Order(ctx, e.Order)
		if err != nil {
			return err
		}
		e.TokenHash, e.TokenExpires = hashToken(fresh), now+int64(ApprovalTTL.Seconds())
		if err := tx.PutEmail(ctx, e); err != nil {
			return err
		}
		if o.Email != "" {
			if err := queueApprovalMail(ctx, tx, o, e.Email, e.Host, link(fresh), e.TokenExpires, now); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, e.Email, "email.renew", e.Order, "", map[string]any{"email": e.Email})
	})
	if err != nil {
		return "", err
	}
	return fresh, nil
}

// Approvals returns the approval requests still waiting.
func (d *Desk) Approvals(ctx context.Context) ([]ledger.Email, error) {
	var out []ledger.Email
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.PendingEmails(ctx)
		return err
	})
	return out, err
}

// PendingMail returns up to limit queued messages. On PostgreSQL the rows
// are not locked beyond this call: a sender marks each with MarkSent or
// MarkFailed.
func (d *Desk) PendingMail(ctx context.Context, limit int) ([]ledger.Mail, error) {
	var out []ledger.Mail
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.PendingMail(ctx, limit)
		return err
	})
	return out, err
}

// MarkSent records that a queued message was sent.
func (d *Desk) MarkSent(ctx context.Context, id int64) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error { return tx.MarkMail(ctx, id, now, "") })
}

// MarkFailed records a failed attempt; the message stays queued.
func (d *Desk) MarkFailed(ctx context.Context, id int64, reason string) error {
	return d.db.Update(ctx, func(tx *ledger.Tx) error { return tx.MarkMail(ctx, id, 0, reason) })
}

// Caps on requester-controlled text in the purchaser's mail, in
// characters.
const (
	maxMailHost  = 64
	maxMailEmail = 254
)

// mailText makes text a requester chose fit to quote in a mail: control
// and format characters (terminal escapes, bidi overrides that reorder
// what the reader sees) become U+FFFD, "://" is defanged to "[:]//" so
// that mail programs make no link of it, and it is cut to max
// characters, marked with an ellipsis.
func mailText(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, c := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
			c = '\uFFFD'
		}
		b.WriteRune(c)
		n++
	}
	return strings.ReplaceAll(b.String(), "://", "[:]//")
}
