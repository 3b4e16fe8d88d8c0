package desk

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/ledger"
)

// RegistrationTTL is how long a registration link stays valid (FAQ 2.9,
// 2.11).
const RegistrationTTL = 72 * time.Hour

// Every new activation, online or offline, mails the address given at
// activation a link that confirms it (FAQ 2.1, 2.9), through the outbox in
// the same transaction as the activation. An expired link shows its expiry
// and sends a fresh 72-hour one (FAQ 2.11); a confirmed address is shown
// by oat desk show and the staff area.

// RegistrationView is a registration as the portal's page shows it.
type RegistrationView struct {
	Activation, Order, Email, Host string
	Expires, Verified              int64
}

// RegistrationLink returns the link function of a portal at base: what
// IssueOptions.RegistrationLink and RenewRegistration take.
func RegistrationLink(base string) func(token string) string {
	base = strings.TrimRight(base, "/")
	return func(token string) string { return base + "/register?t=" + url.QueryEscape(token) }
}

// queueRegistration records a new activation's registration and queues
// its mail.
func (d *Desk) queueRegistration(ctx context.Context, tx *ledger.Tx, act ledger.Activation, order string, link func(string) string, now int64) error {
	if link == nil {
		link = RegistrationLink("")
	}
	token := registrationToken(act.ID)
	r := ledger.Registration{Activation: act.ID, Order: order, Email: act.Email, Host: act.Host,
		TokenHash: hashToken(token), TokenExpires: now + int64(RegistrationTTL/time.Second), Sent: now}
	if err := tx.PutRegistration(ctx, r); err != nil {
		return err
	}
	return tx.QueueMail(ctx, registrationMail(r, link(token), now))
}

// registrationToken is a new registration link token for an activation:
// its ID, a dot, and 192 random bits. The ledger keeps the whole token's
// hash and finds the row by the ID (primary key), so the hash needs no
// index of its own (schema 9).
func registrationToken(activation string) string {
	return activation + "." + newToken()
}

// tokenActivation is the activation a registration token names, or ""
// for a token mailed before schema 9 (random bits only, no dot).
func tokenActivation(token string) string {
	id, _, ok := strings.Cut(token, ".")
	if !ok || !strings.HasPrefix(id, "act-") {
		return ""
	}
	return id
}

// registrationMail is the registration mail, in Japanese and English.
func registrationMail(r ledger.Registration, link string, now int64) ledger.Mail {
	until := timeUTC(r.TokenExpires).Format("2006-01-02 15:04")
	// The host is the requester's word, and the mail goes to an address
	// the requester typed: quote it as approval mails do.
	host := mailText(r.Host, maxMailHost)
	if host == "" {
		host = "-"
	}
	body := fmt.Sprintf("オーダー %s のライセンスがサーバー %s でアクティベートされました（アクティベーション %s）。\n\n", r.Order, host, r.Activation) +
		fmt.Sprintf("このメール アドレスを登録するには、次のリンクを開いてください（有効期限: %s UTC、72 時間）。\n%s\n\n", until, link) +
		"期限が切れた場合も、リンクを開くと新しいリンクを送信できます。\n\n" +
		"----------------------------------------\n\n" +
		fmt.Sprintf("The license of order %s was activated on the server %s (activation %s).\n\n", r.Order, host, r.Activation) +
		fmt.Sprintf("Open this link to register this e-mail address (valid until %s UTC, 72 hours):\n%s\n\n", until, link) +
		"If the link has expired, open it anyway: the page sends you a new one.\n"
	return ledger.Mail{To: r.Email, Subject: fmt.Sprintf("アクティベーションの登録 / Register activation %s", r.Activation), Body: body, Created: now}
}

// registrationByToken finds, in tx, the registration a link token names.
func registrationByToken(ctx context.Context, tx *ledger.Tx, token string) (ledger.Registration, error) {
	return tx.RegistrationByToken(ctx, tokenActivation(token), hashToken(token))
}

func registrationView(r ledger.Registration) *RegistrationView {
	return &RegistrationView{Activation: r.Activation, Order: r.Order, Email: r.Email, Host: r.Host, Expires: r.TokenExpires, Verified: r.Verified}
}

// linkExpired is the answer to a registration link past its 72 hours.
func linkExpired(r ledger.Registration) error {
	return fmt.Errorf("%w: the registration link for %s (activation %s) expired on %s UTC", ErrExpired, r.Email, r.Activation,
		timeUTC(r.TokenExpires).Format("2006-01-02 15:04"))
}

// RegistrationByToken returns the registration a link token names. An
// expired link returns the registration and an error wrapping ErrExpired.
func (d *Desk) RegistrationByToken(ctx context.Context, token string) (*RegistrationView, error) {
	var r ledger.Registration
	// Update, not View: the lookup locks the row (FOR UPDATE on
	// PostgreSQL), which a read-only transaction refuses.
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		var err error
		r, err = registrationByToken(ctx, tx, token)
		return err
	})
	if err != nil {
		return nil, err
	}
	v := registrationView(r)
	if r.Verified == 0 && r.TokenExpires < d.now().Unix() {
		return v, linkExpired(r)
	}
	return v, nil
}

// ConfirmRegistration records the address of a link as verified for its
// activation, while the link is valid. Confirming twice is no error.
func (d *Desk) ConfirmRegistration(ctx context.Context, token string) (*RegistrationView, error) {
	now := d.now().Unix()
	var v *RegistrationView
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		r, err := registrationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		v = registrationView(r)
		if r.Verified != 0 {
			return nil
		}
		if r.TokenExpires < now {
			return linkExpired(r)
		}
		r.Verified, v.Verified = now, now
		if err := tx.PutRegistration(ctx, r); err != nil {
			return err
		}
		return audit(ctx, tx, now, r.Email, "registration.verify", r.Order, r.Activation, map[string]any{"email": r.Email})
	})
	return v, err
}

// RenewRegistration replaces a link that really expired with a fresh one,
// valid 72 hours, mailed to the same address (FAQ 2.11). A link still
// valid, or one already used to confirm, is not renewed.
func (d *Desk) RenewRegistration(ctx context.Context, token string, link func(string) string) (*RegistrationView, error) {
	if link == nil {
		link = RegistrationLink("")
	}
	now := d.now().Unix()
	var v *RegistrationView
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		r, err := registrationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		switch {
		case r.Verified != 0:
			return fmt.Errorf("%w: %s is registered already", ErrConflict, r.Email)
		case r.TokenExpires >= now:
			return fmt.Errorf("%w: the registration link is valid until %s UTC; use it", ErrConflict, timeUTC(r.TokenExpires).Format("2006-01-02 15:04"))
		}
		fresh := registrationToken(r.Activation)
		r.TokenHash, r.TokenExpires, r.Sent = hashToken(fresh), now+int64(RegistrationTTL/time.Second), now
		if err := tx.PutRegistration(ctx, r); err != nil {
			return err
		}
		if err := tx.QueueMail(ctx, registrationMail(r, link(fresh), now)); err != nil {
			return err
		}
		v = registrationView(r)
		return audit(ctx, tx, now, r.Email, "registration.renew", r.Order, r.Activation, map[string]any{"email": r.Email})
	})
	return v, err
}
