package desk_test

import (
	"testing"

	"github.com/oat-toolkit/oat/desk"
)

// TestRuleA20_ChangingMethodReleasesFirst: an installation activated
// offline is refused an online activation until it releases the offline
// one, and the release is the offline one (a receipt).
func TestRuleA20_ChangingMethodReleasesFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("O2", "FN2", "buyer@example.com", "replica-server", 1, "")
		in := newInstallation("srv")
		is := fx.mustIssue(in.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})

		_, err := fx.issue("r.oat", in.request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
		wantErr(t, err, desk.ErrConflict, "r.oat: conflicts with the ledger: activation "+is.Activation+" is offline; release it before activating online (A20)")

		if _, err := fx.desk.Release(ctx, in.receipt(t, is.Activation, is.Sequence)); err != nil {
			t.Fatal(err)
		}
		on := fx.mustIssue(in.request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
		if on.Activation == is.Activation || !on.New {
			t.Errorf("online activation after the release: %+v", on)
		}
	})
}
