package desk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
)

// Transfers, parallel running, standby copies and recovery (A16, A26, B3,
// B6–B14): each test shows the allowed and the refused case with the
// message the desk answers, and that the seats add up.

const noFreeServerSeat = `r.oat: no free seats: order O1 has no free backup-server in pool "Default (Unassigned Licenses)": 1 of 1 seats in use`

// TestRuleA16_B7_TransferIsReleaseThenActivation: a license moves to a new
// machine only when the old one gives it back.
func TestRuleA16_B7_TransferIsReleaseThenActivation(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		old, repl := newInstallation("old"), newInstallation("new")
		is := fx.mustIssue(old.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})

		_, err := fx.issue("r.oat", repl.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, noFreeServerSeat)

		if _, err := fx.desk.Release(ctx, old.receipt(t, is.Activation, is.Sequence)); err != nil {
			t.Fatal(err)
		}
		fx.mustIssue(repl.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		if n := fx.used("O1", "backup-server"); n != 1 {
			t.Errorf("after the transfer %d seats in use, want 1", n)
		}
	})
}

// TestRuleB7_B8_B12_ParallelRunningNeedsASubscription: old and new machine
// may run side by side only on a subscription bought for that period; when
// it ends the new machine needs the perpetual seat the old one released.
func TestRuleB7_B8_B12_ParallelRunningNeedsASubscription(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("P1", "FN-P1", "buyer@example.com", "backup-server", 1, "2026-03-31")
		old, repl := newInstallation("old"), newInstallation("new")
		oldIs := fx.mustIssue(old.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})

		// Refused: in parallel on the perpetual order.
		_, err := fx.issue("r.oat", repl.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, noFreeServerSeat)

		// Allowed: in parallel on the subscription, until it ends.
		par := fx.mustIssue(repl.request(t, "P1", "FN-P1", "buyer@example.com"), desk.IssueOptions{})
		if got := time.Unix(par.License.Products[0].Expires, 0).UTC().Format(time.DateOnly); got != "2026-03-31" {
			t.Errorf("parallel license ends %s, want 2026-03-31", got)
		}

		// Refused: moving the new machine onto the perpetual seat while
		// the old one still holds it.
		_, err = fx.desk.Update(ctx, fx.vendor, par.Activation, desk.Change{AddOrder: "O1", Fulfillment: "FN1"})
		wantErr(t, err, desk.ErrNoSeats, `no free seats: order O1 has no free backup-server in pool "Default (Unassigned Licenses)": 1 of 1 seats in use`)

		// The old machine is decommissioned; the new one takes the perpetual seat.
		if _, err := fx.desk.Release(ctx, old.receipt(t, oldIs.Activation, oldIs.Sequence)); err != nil {
			t.Fatal(err)
		}
		up, err := fx.desk.Update(ctx, fx.vendor, par.Activation, desk.Change{AddOrder: "O1", Fulfillment: "FN1"})
		if err != nil {
			t.Fatal(err)
		}
		perpetual := false
		for _, e := range up.License.Products {
			perpetual = perpetual || (e.Order == "O1" && e.Expires == 0)
		}
		if !perpetual || up.Sequence != par.Sequence+1 {
			t.Errorf("after the transfer the license is %+v", up.License.Products)
		}
		if fx.used("O1", "backup-server") != 1 {
			t.Error("perpetual seat not held by the new machine")
		}
	})
}

// TestRuleB3_ColdStandbyNeedsItsOwnLicense: a spare machine kept ready for
// the same workload is another machine, with its own seat.
func TestRuleB3_ColdStandbyNeedsItsOwnLicense(t *testing.T) {
	t.Run("one seat", func(t *testing.T) {
		runRule(t, "backup-server", 1, []ruleStep{
			{name: "production server", inst: newInstallation("prod")},
			{name: "cold standby of it", inst: newInstallation("prod-spare"), want: strings.Replace(noFreeServerSeat, "order O1", "order R1", 1)},
		})
	})
	t.Run("two seats", func(t *testing.T) {
		runRule(t, "backup-server", 2, []ruleStep{
			{name: "production server", inst: newInstallation("prod")},
			{name: "cold standby with its own license", inst: newInstallation("prod-spare")},
		})
	})
}

// TestRuleB9_B13_StandbyCopy: a standby VM made from a licensed machine
// needs its own license, unless the original is released or the standby's
// host is covered by a Virtual license.
func TestRuleB9_B13_StandbyCopy(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("V1", "FN-V1", "buyer@example.com", "backup-virtual", 1, "")
		orig := newInstallation("app01")
		is := fx.mustIssue(orig.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})

		// Refused: a standby VM of app01 on the Server license.
		standby := newInstallation("app01-standby", vm("vmware"))
		_, err := fx.issue("r.oat", standby.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats, noFreeServerSeat)

		// Allowed: on a host that holds a Virtual license, with the guests
		// already there, without another seat.
		esx := desk.IssueOptions{Group: "esx-dr"}
		fx.mustIssue(newInstallation("dr-guest", vm("vmware")).request(t, "V1", "FN-V1", "buyer@example.com"), esx)
		fx.mustIssue(standby.request(t, "V1", "FN-V1", "buyer@example.com"), esx)
		if n := fx.used("V1", "backup-virtual"); n != 1 {
			t.Errorf("virtual host seats in use %d, want 1", n)
		}

		// Allowed: once the original is released, its seat is free for a copy.
		if _, err := fx.desk.Release(ctx, orig.receipt(t, is.Activation, is.Sequence)); err != nil {
			t.Fatal(err)
		}
		fx.mustIssue(newInstallation("app01-copy", vm("hyperv")).request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
	})
}

// TestRuleB6_B10_VirtualLicenseCoversMigrationsOntoItsHost: any number of
// physical or virtual sources migrated onto a host with a Virtual license
// take that one license; a second host needs its own.
func TestRuleB6_B10_VirtualLicenseCoversMigrationsOntoItsHost(t *testing.T) {
	dest := desk.IssueOptions{Group: "new-host"}
	runRule(t, "backup-virtual", 1, []ruleStep{
		{name: "physical source migrated to a VM", inst: newInstallation("p2v-1", vm("vmware")), opt: dest},
		{name: "another physical source", inst: newInstallation("p2v-2", vm("vmware")), opt: dest},
		{name: "a VM from another hypervisor", inst: newInstallation("v2v-1", vm("vmware")), opt: dest},
		{name: "a source left on an unlicensed host", inst: newInstallation("old-vm", vm("hyperv")), opt: desk.IssueOptions{Group: "old-host"},
			want: `r.oat: no free seats: order R1 has no free backup-virtual in pool "Default (Unassigned Licenses)": 1 of 1 seats in use, one per host`},
	})
}

// TestRuleA26_RecoveryMovesTheSeat: a recovered system (the same
// installation on new hardware) is refused while its old activation holds
// the seat; the desk moves the seat when it approves, or the customer
// releases the old activation, and the seat is never held twice.
func TestRuleA26_RecoveryMovesTheSeat(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("O2", "FN2", "buyer@example.com", "backup-server", 1, "")
		orig := newInstallation("srv01")
		is := fx.mustIssue(orig.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		recovered := *orig
		recovered.fp.UUID, recovered.fp.Serial, recovered.fp.MACs = digest(), digest(), [][]byte{digest()}
		req := recovered.request(t, "O1", "FN1", "buyer@example.com")

		// Refused without approval.
		_, err := fx.issue("r.oat", req, desk.IssueOptions{})
		wantErr(t, err, desk.ErrConflict, `r.oat: conflicts with the ledger: this installation is activated as `+is.Activation+` on another machine (host "srv01"; differs: system UUID, system serial, network addresses; same: machine GUID): release that activation before activating here, or have the desk rebind it with oat desk move (A16, A26, B4)`)

		// Refused: a move of an installation on its own machine is no move.
		_, err = fx.desk.Move(ctx, fx.vendor, "same.oat", orig.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}, "recovered")
		wantErr(t, err, desk.ErrNothingToMove, "nothing to move: this installation is activated as "+is.Activation+" on this same machine; issue the request as usual")
		_, err = fx.desk.Move(ctx, fx.vendor, "r.oat", req, desk.IssueOptions{}, "")
		wantErr(t, err, desk.ErrInvalidInput, "")

		// Allowed with the desk's approval: the seat moves.
		moved, err := fx.desk.Move(ctx, fx.vendor, "r.oat", req, desk.IssueOptions{}, "system recovered onto new hardware, ticket 4711")
		if err != nil {
			t.Fatal(err)
		}
		if moved.Activation == is.Activation || !moved.New || fx.used("O1", "backup-server") != 1 {
			t.Errorf("move: %+v, %d seats used", moved, fx.used("O1", "backup-server"))
		}
		if _, err := fx.desk.Release(ctx, orig.receipt(t, is.Activation, is.Sequence)); err == nil {
			t.Error("the old activation still accepts a release after the move")
		}
		log, _ := fx.desk.Audit(ctx, 2)
		if len(log) < 2 || log[1].Action != "release.moved" || log[1].Activation != is.Activation {
			t.Errorf("audit = %+v", log)
		}

		// Allowed without approval once the old activation is released
		// (the customer's receipt, or the desk's release-stale).
		other := newInstallation("srv02")
		is2 := fx.mustIssue(other.request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{})
		if _, err := fx.desk.ReleaseStale(ctx, is2.Activation, "main board replaced", "desk"); err != nil {
			t.Fatal(err)
		}
		rec2 := *other
		rec2.fp.UUID, rec2.fp.Serial, rec2.fp.MACs = digest(), digest(), [][]byte{digest()}
		fx.mustIssue(rec2.request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{})
		if fx.used("O2", "backup-server") != 1 {
			t.Error("re-activation after release took a second seat")
		}

		// Refused: nothing to move for an installation never activated.
		_, err = fx.desk.Move(ctx, fx.vendor, "n.oat", newInstallation("fresh").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}, "x")
		wantErr(t, err, desk.ErrNothingToMove, "nothing to move: this installation holds no active activation; issue the request as usual")
	})
}
