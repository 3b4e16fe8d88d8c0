package desk_test

import (
	"testing"

	"github.com/oat-toolkit/oat/desk"
)

// TestOrderChange: the desk's corrections of an order: seats added, a
// line cancelled only while none of its seats is in use (and then refused
// to new activations), the purchaser's address corrected (FAQ 3.6, 5.3),
// each audited; ListOrders filters by purchaser, product and state.
func TestOrderChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("O1", "FN1", "buyer@example.com", "replica-server", 1, "")
		a := fx.mustIssue(newInstallation("a").request(t, "O1", "FN1", "buyer@example.com", "backup-server"), desk.IssueOptions{})
		change := func(ch desk.OrderChange) error {
			ch.Order, ch.Reason, ch.Actor = "O1", "test", "alice"
			return fx.desk.ChangeOrder(ctx, ch)
		}
		if err := change(desk.OrderChange{Product: "backup-server", AddSeats: 2}); err != nil {
			t.Fatal(err)
		}
		if v := fx.show("O1"); v.Products[0].Seats != 3 {
			t.Errorf("seats after adding 2: %d", v.Products[0].Seats)
		}
		wantErr(t, change(desk.OrderChange{Product: "backup-server", Cancel: true}), desk.ErrConflict,
			"conflicts with the ledger: 1 seats of backup-server on order O1 are in use; release them before cancelling the line")
		if err := change(desk.OrderChange{Product: "replica-server", Cancel: true}); err != nil {
			t.Fatal(err)
		}
		_, err := fx.desk.Update(ctx, fx.vendor, a.Activation, desk.Change{AddOrder: "O1", Fulfillment: "FN1", Products: []string{"replica-server"}})
		wantErr(t, err, desk.ErrNotEntitled, "not entitled: replica-server on order O1 was cancelled on 2026-03-01")
		if err := change(desk.OrderChange{Purchaser: "New@Example.com"}); err != nil {
			t.Fatal(err)
		}
		if v := fx.show("O1"); v.Email != "new@example.com" {
			t.Errorf("purchaser %q", v.Email)
		}
		wantErr(t, change(desk.OrderChange{Purchaser: "x@example.com", AddSeats: 1, Product: "backup-server"}), desk.ErrInvalidInput, "")
		log, _ := fx.desk.AuditLog(ctx, "O1", "")
		var actions []string
		for _, e := range log {
			if e.Actor == "alice" {
				actions = append(actions, e.Action)
			}
		}
		if len(actions) != 3 || actions[0] != "order.seats" || actions[1] != "order.cancel" || actions[2] != "order.purchaser" {
			t.Errorf("audited: %v", actions)
		}
		for _, c := range []struct {
			f    desk.OrderFilter
			want int
		}{{desk.OrderFilter{}, 1}, {desk.OrderFilter{Purchaser: "new@example.com"}, 1}, {desk.OrderFilter{Purchaser: "buyer@example.com"}, 0},
			{desk.OrderFilter{State: "cancelled"}, 1}, {desk.OrderFilter{Product: "backup-linux"}, 0}, {desk.OrderFilter{State: "expired"}, 0}} {
			got, err := fx.desk.ListOrders(ctx, c.f)
			if err != nil || len(got) != c.want {
				t.Errorf("ListOrders(%+v) = %d orders, %v; want %d", c.f, len(got), err, c.want)
			}
		}
	})
}
