package desk

import (
	"context"
	"fmt"
	"strings"

	"github.com/oat-toolkit/oat/ledger"
)

// ReassignSeat gives the seat an address owns on an order line of an Owned
// model (IT Pro, B22) to another address: the one exception to "never lent
// or transferred", for an engineer who left. The seat keeps its first
// activation, so its year does not restart; the old owner's medium must be
// released first; the reason goes to the audit log.
func (d *Desk) ReassignSeat(ctx context.Context, order, code, from, to, reason, actor string) error {
	from, to = normEmail(from), normEmail(to)
	for _, f := range []struct{ name, v string }{{"from", from}, {"to", to}, {"reason", reason}} {
		if err := validText(f.name, f.v, 200, true); err != nil {
			return err
		}
	}
	if !strings.Contains(to, "@") {
		return fmt.Errorf("%w: e-mail %q is not an address", ErrInvalidInput, to)
	}
	if from == to {
		return fmt.Errorf("%w: the seat is %s's already", ErrInvalidInput, to)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		orders, err := tx.LockOrders(ctx, order)
		if err != nil {
			return err
		}
		if _, ok := orders[order]; !ok {
			return fmt.Errorf("%w: order %s", ErrNotFound, order)
		}
		_, m, err := product(ctx, tx, code)
		if err != nil {
			return err
		}
		if !m.Owned {
			return fmt.Errorf("%w: the seats of %s belong to no one; only seats licensed to a person are reassigned", ErrInvalidInput, code)
		}
		owners, err := tx.SeatOwners(ctx, order, code)
		if err != nil {
			return err
		}
		var own *ledger.SeatOwner
		for i := range owners {
			switch owners[i].Owner {
			case from:
				own = &owners[i]
			case to:
				return fmt.Errorf("%w: %s owns a seat of %s on order %s already", ErrConflict, to, code, order)
			}
		}
		if own == nil {
			return fmt.Errorf("%w: %s owns no seat of %s on order %s", ErrNotFound, from, code, order)
		}
		active, err := tx.ActiveInGroup(ctx, order, code, from)
		if err != nil {
			return err
		}
		if active > 0 {
			return fmt.Errorf("%w: %s's %s is still activated on %d machine(s) of order %s; release it first", ErrConflict, from, code, active, order)
		}
		if err := tx.ReassignSeat(ctx, order, code, from, to); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "seat.reassign", order, "", map[string]any{
			"product": code, "from": from, "to": to, "reason": reason, "first_activated": day(own.FirstActivated)})
	})
}
