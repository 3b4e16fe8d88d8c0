package desk_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
)

// TestRuleA7_RegistrationMailForEveryActivation (FAQ 2.1, 2.9, 2.11):
// every activation, offline or online, mails the address given at
// activation a link valid 72 hours, in Japanese and English, through the
// outbox; confirming records the address as verified; only a link that
// really expired is renewed, with a fresh 72-hour one.
func TestRuleA7_RegistrationMailForEveryActivation(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		fx.order("O2", "FN2", "buyer@example.com", "backup-server", 1, "")
		off := fx.mustIssue(newInstallation("rack01").request(t, "O1", "FN1", "ops@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("rack02").request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
		mail, err := fx.desk.PendingMail(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(mail) != 2 {
			t.Fatalf("%d mails queued for two activations", len(mail))
		}
		m := mail[0]
		if m.To != "ops@example.com" || !strings.Contains(m.Body, "有効期限") || !strings.Contains(m.Body, "valid until 2026-03-04 12:00 UTC, 72 hours") ||
			!strings.Contains(m.Body, off.Activation) {
			t.Fatalf("registration mail to %s:\n%s", m.To, m.Body)
		}
		token := tokenIn(t, m)
		// The link names its activation (the ledger finds the row by it);
		// only the whole token opens it.
		if !strings.HasPrefix(token, off.Activation+".") {
			t.Fatalf("link token %q does not name activation %s", token, off.Activation)
		}
		other := tokenIn(t, mail[1])
		_, secret, _ := strings.Cut(other, ".")
		for _, bad := range []string{off.Activation + "." + secret, off.Activation + ".", off.Activation, token[:len(token)-1], "act-x." + secret} {
			if _, err := fx.desk.RegistrationByToken(ctx, bad); !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("RegistrationByToken(%q) = %v, want not found", bad, err)
			}
			if _, err := fx.desk.ConfirmRegistration(ctx, bad); !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("ConfirmRegistration(%q) = %v, want not found", bad, err)
			}
		}
		if v := activationView(t, fx, "O1", off.Activation); v.EmailVerified || v.Registration != "waiting" {
			t.Errorf("before confirming: %+v", v)
		}
		// A link still valid is not renewed.
		_, err = fx.desk.RenewRegistration(ctx, token, nil)
		wantErr(t, err, desk.ErrConflict, "conflicts with the ledger: the registration link is valid until 2026-03-04 12:00 UTC; use it")

		// After 72 hours the link shows its expiry and can send a new one.
		fx.now = fx.now.Add(73 * time.Hour)
		if _, err := fx.desk.ConfirmRegistration(ctx, token); err == nil {
			t.Fatal("an expired link confirmed the address")
		}
		_, err = fx.desk.RegistrationByToken(ctx, token)
		wantErr(t, err, desk.ErrExpired, "the link has expired: the registration link for ops@example.com (activation "+off.Activation+") expired on 2026-03-04 12:00 UTC")
		if _, err := fx.desk.RenewRegistration(ctx, token, desk.RegistrationLink("https://portal.example/")); err != nil {
			t.Fatal(err)
		}
		mail, _ = fx.desk.PendingMail(ctx, 10)
		fresh := tokenIn(t, mail[len(mail)-1])
		if fresh == token || !strings.Contains(mail[len(mail)-1].Body, "2026-03-07 13:00 UTC") {
			t.Fatalf("renewed mail:\n%s", mail[len(mail)-1].Body)
		}
		if _, err := fx.desk.RegistrationByToken(ctx, token); err == nil {
			t.Error("the replaced link still works")
		}
		if _, err := fx.desk.ConfirmRegistration(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if v := activationView(t, fx, "O1", off.Activation); !v.EmailVerified || v.Registration != "verified" {
			t.Errorf("after confirming: %+v", v)
		}
		log, _ := fx.desk.AuditLog(ctx, "O1", off.Activation)
		if log[len(log)-1].Action != "registration.verify" {
			t.Errorf("audit: %+v", log[len(log)-1])
		}
	})
}

func tokenIn(t *testing.T, m ledger.Mail) string {
	t.Helper()
	_, rest, ok := strings.Cut(m.Body, "/register?t=")
	if !ok {
		t.Fatalf("no link in:\n%s", m.Body)
	}
	tok, _, _ := strings.Cut(rest, "\n")
	return strings.ReplaceAll(tok, "%3D", "=")
}

func activationView(t *testing.T, fx *fixture, order, id string) desk.ActivationView {
	t.Helper()
	for _, a := range fx.show(order).Activations {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("activation %s not on order %s", id, order)
	return desk.ActivationView{}
}
