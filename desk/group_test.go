package desk_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/oat-toolkit/oat/desk"
)

// TestGroupCommitOwnOutcomes: requests for a full order, for free orders,
// a refused one and a repeated one answered in the same transaction each
// get their own outcome; the refused ones take back only their own
// changes, and no order holds more than its seats (S3).
func TestGroupCommitOwnOutcomes(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("FULL", "FN", "buyer@example.com", "backup-server", 1, "")
		fx.order("FREE1", "FN", "buyer@example.com", "backup-server", 3, "")
		fx.order("FREE2", "FN", "buyer@example.com", "backup-server", 2, "")
		fx.mustIssue(newInstallation("first").request(t, "FULL", "FN", "buyer@example.com"), desk.IssueOptions{})
		repeated := newInstallation("again").request(t, "FREE2", "FN", "buyer@example.com")
		first := fx.mustIssue(repeated, desk.IssueOptions{})

		type want struct {
			order string
			err   error // nil: granted
		}
		var in []desk.Input
		var wants []want
		add := func(data []byte, w want) {
			in = append(in, desk.Input{Name: fmt.Sprintf("r%d", len(in)), Data: data})
			wants = append(wants, w)
		}
		for i := range 3 {
			add(newInstallation(fmt.Sprintf("full%d", i)).request(t, "FULL", "FN", "buyer@example.com"), want{"FULL", desk.ErrNoSeats})
			add(newInstallation(fmt.Sprintf("free1-%d", i)).request(t, "FREE1", "FN", "buyer@example.com"), want{"FREE1", nil})
		}
		add(newInstallation("wrongfn").request(t, "FREE1", "WRONG", "buyer@example.com"), want{"FREE1", desk.ErrNotEntitled})
		add(repeated, want{"FREE2", nil})
		add(newInstallation("free2").request(t, "FREE2", "FN", "buyer@example.com"), want{"FREE2", nil})
		add(newInstallation("free2-over").request(t, "FREE2", "FN", "buyer@example.com"), want{"FREE2", desk.ErrNoSeats})

		out, errs := fx.desk.IssueEachForTest(ctx, fx.vendor, in, desk.IssueOptions{})
		for i, w := range wants {
			switch {
			case w.err == nil && errs[i] != nil:
				t.Errorf("%s (%s): %v, want a license", in[i].Name, w.order, errs[i])
			case w.err != nil && !errors.Is(errs[i], w.err):
				t.Errorf("%s (%s): %v, want %v", in[i].Name, w.order, errs[i], w.err)
			case w.err == nil && out[i].License.Activation == "":
				t.Errorf("%s (%s): no license", in[i].Name, w.order)
			}
		}
		if r := out[len(in)-3]; !r.Repeat || r.Activation != first.Activation {
			t.Errorf("the repeated request got %+v, want the same activation %s again", r, first.Activation)
		}
		for order, used := range map[string]int64{"FULL": 1, "FREE1": 3, "FREE2": 2} {
			if v := fx.show(order); v.Used != used || int64(len(v.Activations)) != used {
				t.Errorf("order %s: %d seats in use, %d activations, want %d", order, v.Used, len(v.Activations), used)
			}
		}
		// The refused requests left no activation behind: only the six
		// granted ones (two before the batch, four in it) are recorded.
		if d := fx.dump(); !strings.Contains(d, "[activations] 6\n") {
			t.Errorf("the ledger holds other than 6 activations:\n%s", d[strings.Index(d, "[activations]"):][:40])
		}
		// A batch of refusals changes nothing.
		before := fx.dump()
		_, errs = fx.desk.IssueEachForTest(ctx, fx.vendor, []desk.Input{
			{Name: "a", Data: newInstallation("full-a").request(t, "FULL", "FN", "buyer@example.com")},
			{Name: "b", Data: newInstallation("full-b").request(t, "FULL", "FN", "buyer@example.com")},
			{Name: "c", Data: newInstallation("free2-c").request(t, "FREE2", "FN", "buyer@example.com")},
		}, desk.IssueOptions{})
		for i, err := range errs {
			if !errors.Is(err, desk.ErrNoSeats) {
				t.Errorf("refusal %d: %v", i, err)
			}
		}
		if fx.dump() != before {
			t.Error("a batch of refused requests changed the ledger")
		}
	})
}

// TestIssuerConcurrent: many single requests at once through one Issuer
// (group commit) and through several desks on the same ledger: exactly the
// seats are sold, every request gets its real answer.
func TestIssuerConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		orders := map[string]int64{"G1": 4, "G2": 1, "G3": 6}
		for o, n := range orders {
			fx.order(o, "FN", "buyer@example.com", "backup-server", n, "")
		}
		is, err := fx.desk.NewIssuer(fx.vendor, desk.IssueOptions{}, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer is.Close()
		const per = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := map[string]int64{}
		for o := range orders {
			for i := range per {
				req := newInstallation(fmt.Sprintf("%s-%d", o, i)).request(t, o, "FN", "buyer@example.com")
				wg.Go(func() {
					got, err := is.Issue(ctx, "r", req, "")
					switch {
					case err == nil:
						if len(got.File) == 0 {
							t.Errorf("%s: no license file", o)
						}
						mu.Lock()
						granted[o]++
						mu.Unlock()
					case !errors.Is(err, desk.ErrNoSeats):
						t.Errorf("%s: %v", o, err)
					}
				})
			}
		}
		wg.Wait()
		for o, n := range orders {
			if granted[o] != n {
				t.Errorf("order %s: %d granted, want %d", o, granted[o], n)
			}
			if v := fx.show(o); v.Used != n {
				t.Errorf("order %s: %d seats in use, want %d", o, v.Used, n)
			}
		}
	})
}

// TestIssueVerified: a request verified once by VerifyRequest (as the
// portal does to read it) is issued by IssueVerified with no second
// verification, and is the same request Issue sees: the same file sent
// again through Issue gets the same activation. Changing the claims read
// from it changes nothing issued, and a VerifiedRequest not made by
// VerifyRequest is refused.
func TestIssueVerified(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("V1", "FN", "buyer@example.com", "backup-server", 2, "")
		is, err := fx.desk.NewIssuer(fx.vendor, desk.IssueOptions{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer is.Close()
		data := newInstallation("verified").request(t, "V1", "FN", "buyer@example.com")
		v, err := desk.VerifyRequest(data)
		if err != nil {
			t.Fatal(err)
		}
		r := v.Request()
		r.Order = "OTHER"
		got, err := is.IssueVerified(ctx, "r", v, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.File) == 0 || got.License.Products[0].Order != "V1" {
			t.Fatalf("issued %+v, want a license file for order V1", got.License)
		}
		again, err := is.Issue(ctx, "r", data, "")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Repeat || again.Activation != got.Activation {
			t.Errorf("the same file through Issue got %s (repeat %v), want %s again", again.Activation, again.Repeat, got.Activation)
		}
		if v := fx.show("V1"); v.Used != 1 {
			t.Errorf("order V1: %d seats in use, want 1", v.Used)
		}

		if _, err := is.IssueVerified(ctx, "zero", desk.VerifiedRequest{}, ""); !errors.Is(err, desk.ErrBadFile) {
			t.Errorf("a zero VerifiedRequest: %v, want %v", err, desk.ErrBadFile)
		}
		damaged := []byte(strings.Replace(string(data), "A", "B", 1))
		if _, err := desk.VerifyRequest(damaged); err == nil {
			t.Error("VerifyRequest took a damaged file")
		}
	})
}
