package desk_test

import (
	"bytes"
	"testing"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/response"
)

// TestBatchSharedState: a batch reads an order's state once and keeps it
// current, so requests in one batch see each other's seats and
// activations exactly as if issued one by one.
func TestBatchSharedState(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		fx.order("O2", "FN2", "buyer@example.com", "backup-server", 1, "")
		first := newInstallation("first")
		firstReq := first.request(t, "O1", "FN1", "buyer@example.com")
		prev := fx.mustIssue(firstReq, desk.IssueOptions{})

		twice := newInstallation("twice")
		batch := []desk.Input{
			{Name: "again.oat", Data: firstReq}, // answered before: the same license
			{Name: "a.oat", Data: newInstallation("a").request(t, "O1", "FN1", "buyer@example.com")},
			{Name: "twice1.oat", Data: twice.request(t, "O1", "FN1", "buyer@example.com")},
			{Name: "twice2.oat", Data: twice.request(t, "O1", "FN1", "buyer@example.com")}, // same installation: no second seat
			{Name: "o2.oat", Data: twice.request(t, "O2", "FN2", "buyer@example.com")},     // and a product of another order
		}
		out, err := fx.desk.Issue(ctx, fx.vendor, batch, desk.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !out[0].Repeat || out[0].Activation != prev.Activation || !bytes.Equal(out[0].License.ID, prev.License.ID) {
			t.Errorf("repeated request: %+v, want the license of %s again", out[0], prev.Activation)
		}
		if !out[2].New || out[3].New || out[4].New || out[3].Activation != out[2].Activation || out[4].Activation != out[2].Activation {
			t.Errorf("one installation in a batch: new %v %v %v, activations %s %s %s",
				out[2].New, out[3].New, out[4].New, out[2].Activation, out[3].Activation, out[4].Activation)
		}
		if out[2].Sequence != 1 || out[3].Sequence != 2 || out[4].Sequence != 3 {
			t.Errorf("sequences %d %d %d, want 1 2 3", out[2].Sequence, out[3].Sequence, out[4].Sequence)
		}
		if n := len(out[4].License.Products); n != 2 {
			t.Errorf("the third license of one installation holds %d products, want both orders'", n)
		}
		for _, is := range out {
			if _, err := response.Parse(is.File, fx.trust); err != nil {
				t.Errorf("%s: %v", is.Name, err)
			}
		}
		if u1, u2 := fx.used("O1", "backup-server"), fx.used("O2", "backup-server"); u1 != 3 || u2 != 1 {
			t.Errorf("seats used %d on O1, %d on O2; want 3 and 1", u1, u2)
		}

		// Both orders are full now: a batch whose last request finds no seat
		// changes nothing, though its first is a repeat and its second adds
		// nothing new.
		before := fx.dump()
		_, err = fx.desk.Issue(ctx, fx.vendor, []desk.Input{
			{Name: "again.oat", Data: firstReq},
			{Name: "twice3.oat", Data: twice.request(t, "O1", "FN1", "buyer@example.com")},
			{Name: "full.oat", Data: newInstallation("full").request(t, "O1", "FN1", "buyer@example.com")},
		}, desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, "")
		if fx.dump() != before {
			t.Fatal("a refused batch changed the ledger")
		}
	})
}
