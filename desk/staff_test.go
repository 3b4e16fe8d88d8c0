package desk_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
)

// TestStaffSessionsInTheLedger: staff sessions are rows in the ledger, so
// signing out, a new password and removing a member end them for every
// portal, on SQLite and PostgreSQL, and each step is in the audit log
// under the member's name.
func TestStaffSessionsInTheLedger(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		d := fx.desk
		if err := d.AddStaff(ctx, "Hanako", "$argon2id$hash-1", "cli:root"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, d.AddStaff(ctx, "Hanako", "$argon2id$hash-2", "cli:root"), desk.ErrConflict, "")
		for _, bad := range []string{"", " Hanako", "Ha\x1bnako", "Hana\u202eko", strings.Repeat("x", 65)} {
			wantErr(t, d.AddStaff(ctx, bad, "h", "cli:root"), desk.ErrInvalidInput, "")
		}
		if err := d.AddStaff(ctx, "Taro", "$argon2id$hash-t", "cli:root"); err != nil {
			t.Fatal(err)
		}
		if h, err := d.StaffPasswordHash(ctx, "Hanako"); err != nil || h != "$argon2id$hash-1" {
			t.Fatalf("hash %q %v", h, err)
		}
		if _, err := d.StaffPasswordHash(ctx, "Nobody"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("unknown member: %v", err)
		}

		open := func(name, id string) []byte {
			t.Helper()
			if err := d.OpenStaffSession(ctx, name, []byte(id), fx.now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return []byte(id)
		}
		live := func(id []byte) bool {
			t.Helper()
			_, err := d.StaffSession(ctx, id)
			if err != nil && !errors.Is(err, ledger.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		a, b, c := open("Hanako", "session-a"), open("Hanako", "session-b"), open("Taro", "session-c")
		if name, err := d.StaffSession(ctx, a); err != nil || name != "Hanako" {
			t.Fatalf("session a: %q %v", name, err)
		}
		// Signing out ends that session only.
		if err := d.CloseStaffSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		if live(a) || !live(b) || !live(c) {
			t.Fatal("sign-out ended the wrong sessions")
		}
		// A new password ends every session of that member.
		if n, err := d.SetStaffPassword(ctx, "Hanako", "$argon2id$hash-3", "cli:root"); err != nil || n != 1 {
			t.Fatalf("passwd: %d %v", n, err)
		}
		if live(b) || !live(c) {
			t.Fatal("a new password left Hanako's session, or ended Taro's")
		}
		// Expiry ends a session too.
		fx.now = fx.now.Add(2 * time.Hour)
		if live(c) {
			t.Fatal("an expired session is live")
		}
		d2 := open("Taro", "session-d")
		if err := d.RemoveStaff(ctx, "Taro", "cli:root"); err != nil {
			t.Fatal(err)
		}
		if live(d2) {
			t.Fatal("a removed member's session is live")
		}
		wantErr(t, d.RemoveStaff(ctx, "Taro", "cli:root"), ledger.ErrNotFound, "")
		if err := d.OpenStaffSession(ctx, "Taro", []byte("session-e"), fx.now.Add(time.Hour)); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("session for a removed member: %v", err)
		}
		list, err := d.Staff(ctx)
		if err != nil || len(list) != 1 || list[0].Name != "Hanako" || list[0].Sessions != 0 {
			t.Fatalf("staff %+v %v", list, err)
		}
		log, err := d.Audit(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range log {
			if strings.HasPrefix(e.Action, "staff.") {
				seen = append(seen, e.Actor+" "+e.Action)
			}
		}
		want := "cli:root staff.remove|staff:Taro staff.login|cli:root staff.password|staff:Hanako staff.logout|staff:Taro staff.login|staff:Hanako staff.login|staff:Hanako staff.login|cli:root staff.add|cli:root staff.add"
		if got := strings.Join(seen, "|"); got != want {
			t.Errorf("audit:\n got %s\nwant %s", got, want)
		}
	})
}

// TestApprovalMailQuotesRequesterSafely: the host and address a requester
// chose reach the purchaser's mail capped, without control or bidi
// characters, and with no link of their own.
func TestApprovalMailQuotesRequesterSafely(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		host := "https://evil.example/\u202eexe.pdf\x1b[2J" + strings.Repeat("x", 150)
		if _, err := fx.desk.RequestApproval(ctx, "O1", "admin@example.org", host, func(tok string) string { return "https://portal/approve?t=" + tok }); err != nil {
			t.Fatal(err)
		}
		mail, err := fx.desk.PendingMail(ctx, 10)
		if err != nil || len(mail) != 1 {
			t.Fatalf("outbox %+v %v", mail, err)
		}
		body := mail[0].Body
		for _, bad := range []string{"\u202e", "\x1b", "https://evil", strings.Repeat("x", 60)} {
			if strings.Contains(body, bad) {
				t.Errorf("mail carries %q:\n%s", bad, body)
			}
		}
		if !strings.Contains(body, "https[:]//evil.example/\ufffdexe.pdf\ufffd[2J") || !strings.Contains(body, "…") {
			t.Errorf("host not quoted as expected:\n%s", body)
		}
		// The approval keeps the host, for the approval page.
		es, err := fx.desk.Approvals(ctx)
		if err != nil || len(es) != 1 || es[0].Host != host {
			t.Fatalf("approvals %+v %v", es, err)
		}
	})
}

// TestRegistrationMailQuotesHostSafely: the registration mail goes to the
// address a requester typed, with the computer name the requester chose:
// it is quoted like the approval mail's.
func TestRegistrationMailQuotesHostSafely(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		host := "https://evil.example/\u202eexe.pdf\x1b[2J" + strings.Repeat("y", 150)
		fx.mustIssue(newInstallation(host).request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		mail, err := fx.desk.PendingMail(ctx, 10)
		if err != nil || len(mail) != 1 {
			t.Fatalf("outbox %+v %v", mail, err)
		}
		for _, bad := range []string{"\u202e", "\x1b", "https://evil", strings.Repeat("y", 60)} {
			if strings.Contains(mail[0].Body, bad) {
				t.Errorf("registration mail carries %q:\n%s", bad, mail[0].Body)
			}
		}
		if !strings.Contains(mail[0].Body, "https[:]//evil.example/") {
			t.Errorf("host not quoted:\n%s", mail[0].Body)
		}
	})
}
