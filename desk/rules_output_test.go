package desk_test

import (
	"slices"
	"testing"

	"github.com/oat-toolkit/oat/desk"
)

// Tests of what the desk says about what it did: each fails where the
// answer was untrue.

// TestRuleB23_ReleaseSaysTheDeploymentStaysUsed: releasing a Deploy
// activation gives nothing back to the pool, and the release says so.
func TestRuleB23_ReleaseSaysTheDeploymentStaysUsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("D1", "FN-D1", "oem@example.com", "backup-deploy", 2, "")
		a := newInstallation("pc-a", class("desktop"))
		is := fx.mustIssue(a.request(t, "D1", "FN-D1", "oem@example.com"), desk.IssueOptions{})
		rel, err := fx.desk.Release(ctx, a.receipt(t, is.Activation, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rel.Consumed, []string{"backup-deploy"}) {
			t.Errorf("release says %+v; the deployment's seat stays used", rel)
		}
		if fx.used("D1", "backup-deploy") != 1 {
			t.Error("the deployment's seat came back")
		}
	})
}

// TestRuleA22_KeyedSeatCountsAsUsed: a seat whose product keys were all
// handed out is used, not free.
func TestRuleA22_KeyedSeatCountsAsUsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("K1", "FN-K1", "buyer@example.com", "replica-virtual", 2, "")
		if _, err := fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K1", Fulfillment: "FN-K1",
			Product: "replica-virtual", Count: 100, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		v := fx.show("K1")
		if l := v.Products[0]; l.Used != 1 || l.Free != 1 || l.Keys != 100 {
			t.Errorf("after one seat's 100 keys: %+v", l)
		}
		if p := v.Pools[0]; p.Used != 1 {
			t.Errorf("default pool: %+v", p)
		}
	})
}

// TestRuleA12_UpdateWithNothingToChangeIsRefused: an update that adds no
// order and moves no pool spends no sequence number.
func TestRuleA12_UpdateWithNothingToChangeIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		is := fx.mustIssue(newInstallation("a").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		before := fx.dump()
		_, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{})
		wantErr(t, err, desk.ErrInvalidInput, "invalid input: nothing to change on activation "+is.Activation+": add an order or move it to a pool")
		if fx.dump() != before {
			t.Error("a refused update changed the ledger")
		}
	})
}

// TestRuleB1_SubscriptionEndingInThePastIsRefused: an order line cannot be
// recorded already ended.
func TestRuleB1_SubscriptionEndingInThePastIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		err := fx.desk.AddOrder(ctx, desk.OrderLine{Order: "S1", Fulfillment: "FN", Email: "b@example.com",
			Product: "backup-server", Seats: 1, Expires: "2026-02-28"}, "test")
		wantErr(t, err, desk.ErrInvalidInput, "invalid input: the subscription's last day 2026-02-28 is in the past")
		// The fixture's clock is 2026-03-01 12:00: today is still allowed.
		fx.order("S1", "FN", "b@example.com", "backup-server", 1, "2026-03-01")
	})
}
