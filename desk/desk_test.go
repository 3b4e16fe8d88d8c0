package desk_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

func TestIssueUpdateRelease(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "it@example.com", "backup-server", 2, "")
		fx.order("O1", "FN1", "it@example.com", "replica-server", 2, "")
		fx.order("O2", "FN2", "it@example.com", "backup-linux", 1, "2027-03-31")
		srv := newInstallation("srv1")
		req := srv.request(t, "O1", "FN1", "IT@example.com", "backup-server", "replica-server")
		is := fx.mustIssue(req, desk.IssueOptions{})
		l := is.License
		if !is.New || l.Sequence != 1 || l.Issuer != "test desk" || l.Host != "srv1" || len(l.Products) != 2 {
			t.Fatalf("first license = %+v", l)
		}
		if !bytes.Equal(l.Nonce, mustNonce(t, req)) {
			t.Error("the first license does not echo the request nonce")
		}
		if k, _ := l.Confirm.PublicKey(); !bytes.Equal(k, srv.priv.Public().(ed25519.PublicKey)) {
			t.Error("cnf is not the installation key")
		}
		if fx.used("O1", "backup-server") != 1 || fx.used("O1", "replica-server") != 1 {
			t.Fatalf("seats used = %+v", fx.show("O1").Products)
		}

		// The same request again: the same license, no second seat.
		before := fx.dump()
		again := fx.mustIssue(req, desk.IssueOptions{})
		if !again.Repeat || again.Activation != is.Activation || !bytes.Equal(again.File, is.File) {
			t.Fatalf("repeated request: repeat=%v same activation=%v same file=%v", again.Repeat, again.Activation == is.Activation, bytes.Equal(again.File, is.File))
		}
		if fx.dump() != before {
			t.Error("a repeated request changed the ledger")
		}

		// A new request from the same installation (a reinstall): an
		// updated license for the same activation, no new seat.
		re := fx.mustIssue(srv.request(t, "O1", "FN1", "it@example.com"), desk.IssueOptions{})
		if re.New || re.Activation != is.Activation || re.Sequence != 2 || len(re.License.Nonce) == 0 {
			t.Fatalf("reinstall: %+v", re)
		}
		if fx.used("O1", "backup-server") != 1 {
			t.Error("a reinstall took a second seat")
		}

		// A product installed later (A10): its order is added to the activation.
		up, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "O2", Fulfillment: "FN2"})
		if err != nil {
			t.Fatal(err)
		}
		ul, err := response.Parse(up.File, fx.trust)
		if err != nil {
			t.Fatal(err)
		}
		if ul.Sequence != 3 || len(ul.Nonce) != 0 || len(ul.Products) != 3 {
			t.Fatalf("update: %+v", ul)
		}
		var linux response.Entitlement
		for _, e := range ul.Products {
			if e.Code == "backup-linux" {
				linux = e
			}
		}
		if linux.Order != "O2" || linux.Fulfillment != "FN2" || linux.Expires == 0 || linux.Model != "linux" {
			t.Errorf("backup-linux entitlement = %+v", linux)
		}

		// Release: the seats go back to the default pool, once.
		receipt := srv.receipt(t, is.Activation, 3)
		rel, err := fx.desk.Release(ctx, receipt)
		if err != nil {
			t.Fatal(err)
		}
		if rel.Activation != is.Activation || len(rel.Products) != 3 {
			t.Errorf("released = %+v", rel)
		}
		if fx.used("O1", "backup-server") != 0 || fx.used("O2", "backup-linux") != 0 {
			t.Error("seats not returned")
		}
		v := fx.show("O1")
		if v.Activations[0].State != "released" || v.Free != 4 {
			t.Errorf("after release: %+v", v)
		}
		// The same installation may activate again afterwards (A16, A20).
		again2 := fx.mustIssue(srv.request(t, "O1", "FN1", "it@example.com"), desk.IssueOptions{})
		if !again2.New || again2.Activation == is.Activation {
			t.Error("activation after release is not a new activation")
		}
	})
}

func mustNonce(t *testing.T, req []byte) []byte {
	t.Helper()
	r, _, err := parseRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return r.Nonce
}

// TestRejections: every refusal is a clear error and changes nothing.
func TestRejections(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		fx.order("O3", "FN3", "buyer@example.com", "backup-server", 1, "")
		first := newInstallation("first")
		act := fx.mustIssue(first.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}).Activation
		full := newInstallation("full")
		fx.mustIssue(full.request(t, "O3", "FN3", "buyer@example.com"), desk.IssueOptions{})
		receipt := first.receipt(t, act, 1)
		other := newInstallation("other")

		kind, raw, err := signing.Unarmor(other.request(t, "O1", "FN1", "buyer@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 1 // the last byte of the signature
		tampered := signing.Armor(kind, raw)

		cases := []struct {
			name     string
			do       func() error
			sentinel error
			msg      string
		}{
			{"unknown order", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O9", "FN1", "buyer@example.com"), desk.IssueOptions{})
				return err
			}, desk.ErrNotEntitled, "r.oat: not entitled: no order has this order ID and fulfillment number (A1)"},
			{"wrong fulfillment number", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O1", "FN2", "buyer@example.com"), desk.IssueOptions{})
				return err
			}, desk.ErrNotEntitled, "r.oat: not entitled: no order has this order ID and fulfillment number (A1)"},
			{"unapproved second e-mail", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O1", "FN1", "someone@example.org"), desk.IssueOptions{})
				return err
			}, desk.ErrPendingApproval, "r.oat: waiting for approval: someone@example.org is not approved for order O1, which other servers use with another address; the purchaser (buyer@example.com) must approve it first (A8)"},
			{"no seats", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O3", "FN3", "buyer@example.com"), desk.IssueOptions{})
				return err
			}, desk.ErrNoSeats, `r.oat: no free seats: order O3 has no free backup-server in pool "Default (Unassigned Licenses)": 1 of 1 seats in use`},
			{"unknown product", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O1", "FN1", "buyer@example.com", "frobnicator"), desk.IssueOptions{})
				return err
			}, desk.ErrNotEntitled, "r.oat: not entitled: unknown product frobnicator"},
			{"product not on the order", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O1", "FN1", "buyer@example.com", "replica-server"), desk.IssueOptions{})
				return err
			}, desk.ErrNotEntitled, "r.oat: not entitled: replica-server is not on order O1"},
			{"bad signature", func() error {
				_, err := fx.issue("r.oat", tampered, desk.IssueOptions{})
				return err
			}, desk.ErrBadFile, ""},
			{"not a request", func() error {
				_, err := fx.issue("r.oat", receipt, desk.IssueOptions{})
				return err
			}, desk.ErrBadFile, ""},
			{"online after offline (A11)", func() error {
				_, err := fx.issue("r.oat", other.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
				return err
			}, desk.ErrConflict, "r.oat: conflicts with the ledger: order O1 is activated offline on other servers and cannot be mixed with online activation; release those first (A11, A20)"},
			{"receipt for another activation", func() error {
				_, err := fx.desk.Release(ctx, other.receipt(t, act, 1))
				return err
			}, desk.ErrBadFile, ""},
			{"receipt for an unknown activation", func() error {
				_, err := fx.desk.Release(ctx, first.receipt(t, "act-nope", 1))
				return err
			}, ledger.ErrNotFound, "activation act-nope: not found"},
			{"update of an unknown activation", func() error {
				_, err := fx.desk.Update(ctx, fx.vendor, "act-nope", desk.Change{Reissue: true})
				return err
			}, ledger.ErrNotFound, "activation act-nope: not found"},
			{"update with a wrong fulfillment number", func() error {
				_, err := fx.desk.Update(ctx, fx.vendor, act, desk.Change{AddOrder: "O3", Fulfillment: "nope"})
				return err
			}, desk.ErrNotEntitled, "not entitled: the fulfillment number does not match order O3 (A1)"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := fx.dump()
				err := c.do()
				wantErr(t, err, c.sentinel, c.msg)
				if after := fx.dump(); after != before {
					t.Errorf("the ledger changed:\n%s", diff(before, after))
				}
			})
		}
		t.Run("bad signature message", func(t *testing.T) {
			_, err := fx.issue("r.oat", tampered, desk.IssueOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), "r.oat: not a valid file: ") {
				t.Errorf("err = %v", err)
			}
		})

		// A receipt is accepted once; the replay changes nothing.
		if _, err := fx.desk.Release(ctx, receipt); err != nil {
			t.Fatal(err)
		}
		before := fx.dump()
		_, err = fx.desk.Release(ctx, receipt)
		wantErr(t, err, desk.ErrConflict, "conflicts with the ledger: this receipt was accepted already")
		if fx.dump() != before {
			t.Error("a replayed receipt changed the ledger")
		}
	})
}

func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	seen := map[string]bool{}
	for _, l := range al {
		seen[l] = true
	}
	for _, l := range bl {
		if !seen[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestConcurrentIssuers: 16 issuers at once, on separate connections as
// separate desk processes would be, against an order of 5 seats.
func TestConcurrentIssuers(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O5", "FN5", "buyer@example.com", "backup-server", 5, "")
		const n = 16
		reqs := make([][]byte, n)
		for i := range reqs {
			reqs[i] = newInstallation(fmt.Sprintf("srv%d", i)).request(t, "O5", "FN5", "buyer@example.com")
		}
		desks := make([]*desk.Desk, 4)
		for i := range desks {
			db, err := ledger.Open(ctx, fx.dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			desks[i] = desk.New(db, desk.Options{})
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = desks[i%len(desks)].IssueOne(ctx, fx.vendor, fmt.Sprint(i), reqs[i], desk.IssueOptions{})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, desk.ErrNoSeats):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 5 {
			t.Errorf("%d issuers succeeded, want exactly 5", ok)
		}
		v := fx.show("O5")
		if v.Used != 5 || len(v.Activations) != 5 {
			t.Errorf("ledger: used %d, %d activations", v.Used, len(v.Activations))
		}
	})
}

// TestCrashMidIssue: a failure after the seats are allocated and before the
// commit leaves no seat without its activation and audit record.
func TestCrashMidIssue(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		before := fx.dump()
		fx.desk.SetBeforeCommit(func() error { return errors.New("power cut") })
		srv := newInstallation("srv")
		req := srv.request(t, "O1", "FN1", "buyer@example.com")
		if _, err := fx.issue("r.oat", req, desk.IssueOptions{}); err == nil || !strings.Contains(err.Error(), "power cut") {
			t.Fatalf("err = %v", err)
		}
		if fx.dump() != before {
			t.Fatal("a failed issue left rows behind")
		}
		fx.desk.SetBeforeCommit(nil)
		is := fx.mustIssue(req, desk.IssueOptions{})
		log, err := fx.desk.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if log[0].Action != "activation.new" || log[0].Activation != is.Activation {
			t.Errorf("newest audit entry = %+v", log[0])
		}
	})
}

// TestBatchIssue: many requests commit together, or none does.
func TestBatchIssue(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		var in []desk.Input
		for i := 0; i < 3; i++ {
			in = append(in, desk.Input{Name: fmt.Sprintf("r%d.oat", i), Data: newInstallation(fmt.Sprint(i)).request(t, "O1", "FN1", "buyer@example.com")})
		}
		bad := append(append([]desk.Input{}, in...), desk.Input{Name: "r3.oat", Data: newInstallation("3").request(t, "O1", "FN1", "buyer@example.com")})
		before := fx.dump()
		_, err := fx.desk.Issue(ctx, fx.vendor, bad, desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, "")
		if err != nil && !strings.HasPrefix(err.Error(), "r3.oat: ") {
			t.Errorf("error does not name the file: %v", err)
		}
		if fx.dump() != before {
			t.Fatal("a refused batch changed the ledger")
		}
		out, err := fx.desk.Issue(ctx, fx.vendor, in, desk.IssueOptions{})
		if err != nil || len(out) != 3 {
			t.Fatalf("batch: %v", err)
		}
		if fx.used("O1", "backup-server") != 3 {
			t.Error("batch did not take 3 seats")
		}
	})
}

func TestApprovalFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		fx.mustIssue(newInstallation("a").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		// The first activation's registration mail is sent.
		if sent, _ := fx.desk.PendingMail(ctx, 10); len(sent) == 1 {
			fx.desk.MarkSent(ctx, sent[0].ID)
		}
		second := newInstallation("b")
		_, err := fx.issue("r", second.request(t, "O1", "FN1", "admin@example.org"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrPendingApproval, "")

		// The purchaser's link (A7): valid 72 hours, renewable.
		token, err := fx.desk.RequestApproval(ctx, "O1", "admin@example.org", "b", func(tok string) string { return "https://portal/approve/" + tok })
		if err != nil {
			t.Fatal(err)
		}
		mail, err := fx.desk.PendingMail(ctx, 10)
		if err != nil || len(mail) != 1 || mail[0].To != "buyer@example.com" || !strings.Contains(mail[0].Body, "https://portal/approve/"+token) {
			t.Fatalf("outbox = %+v, %v", mail, err)
		}
		// The purchaser reads it in Japanese or English (A7: 72-hour link).
		for _, want := range []string{"承認または拒否してください", "Approve or deny it here"} {
			if !strings.Contains(mail[0].Body, want) {
				t.Errorf("mail body lacks %q:\n%s", want, mail[0].Body)
			}
		}
		if n := strings.Count(mail[0].Body, "https://portal/approve/"+token); n != 2 {
			t.Errorf("the link appears %d times, want once per language", n)
		}
		if !strings.HasPrefix(mail[0].Subject, "承認のお願い / Approve ") {
			t.Errorf("subject %q", mail[0].Subject)
		}
		if err := fx.desk.MarkSent(ctx, mail[0].ID); err != nil {
			t.Fatal(err)
		}
		if mail, _ := fx.desk.PendingMail(ctx, 10); len(mail) != 0 {
			t.Error("sent mail still pending")
		}
		fx.now = fx.now.Add(desk.ApprovalTTL + time.Minute)
		wantErr(t, fx.desk.DecideByToken(ctx, token, true), desk.ErrExpired, "")
		fresh, err := fx.desk.RenewApproval(ctx, token, func(tok string) string { return tok })
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.desk.DecideByToken(ctx, fresh, true); err != nil {
			t.Fatal(err)
		}
		fx.mustIssue(second.request(t, "O1", "FN1", "admin@example.org"), desk.IssueOptions{})

		// The desk approves by hand.
		if err := fx.desk.Approve(ctx, "O1", "third@example.org", "desk"); err != nil {
			t.Fatal(err)
		}
		fx.mustIssue(newInstallation("c").request(t, "O1", "FN1", "third@example.org"), desk.IssueOptions{})
	})
}

func TestReleaseStaleAndPools(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		a := fx.mustIssue(newInstallation("a").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		if err := fx.desk.SetPool(ctx, "O1", "backup-server", "Tokyo", 1, "desk"); err != nil {
			t.Fatal(err)
		}
		up, err := fx.desk.Update(ctx, fx.vendor, a.Activation, desk.Change{Pool: "Tokyo"})
		if err != nil {
			t.Fatal(err)
		}
		if up.License.Products[0].Pool != "Tokyo" || up.Sequence != 2 {
			t.Errorf("pool change license = %+v", up.License)
		}
		// The Tokyo pool is full, the default pool has one seat.
		err = fx.desk.SetPool(ctx, "O1", "backup-server", "Tokyo", 0, "desk")
		wantErr(t, err, desk.ErrConflict, `conflicts with the ledger: pool "Tokyo" of backup-server on order O1 has 1 seats in use`)
		fx.mustIssue(newInstallation("b").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		_, err = fx.issue("c.oat", newInstallation("c").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, "")

		// The machine is gone (A21): the desk releases it by hand.
		if _, err := fx.desk.ReleaseStale(ctx, a.Activation, "", "desk"); err == nil {
			t.Error("release without a reason accepted")
		}
		if _, err := fx.desk.ReleaseStale(ctx, a.Activation, "disk failed, machine scrapped", "alice"); err != nil {
			t.Fatal(err)
		}
		log, _ := fx.desk.Audit(ctx, 1)
		if log[0].Action != "release.stale" || log[0].Actor != "alice" || !strings.Contains(log[0].Detail, "scrapped") {
			t.Errorf("audit = %+v", log[0])
		}
		fx.mustIssue(newInstallation("c").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
	})
}
