package desk

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oat-toolkit/oat/ledger"
)

// OrderFilter selects orders for ListOrders; empty fields match all.
type OrderFilter struct {
	Purchaser string // the purchaser's address
	Product   string // orders with a line of this product
	// State keeps orders with a line in this state: "active", "expired",
	// "cancelled", or "full" (an active line with no free seat).
	State string
}

// ListOrders returns the orders a filter selects, as Show shows them.
func (d *Desk) ListOrders(ctx context.Context, f OrderFilter) ([]OrderView, error) {
	switch f.State {
	case "", "active", "expired", "cancelled", "full":
	default:
		return nil, fmt.Errorf("%w: state %q is not one of active, expired, cancelled, full", ErrInvalidInput, f.State)
	}
	all, err := d.Orders(ctx)
	if err != nil {
		return nil, err
	}
	out := []OrderView{}
	for _, o := range all {
		if f.Purchaser != "" && o.Email != normEmail(f.Purchaser) {
			continue
		}
		if f.Product == "" && f.State == "" {
			out = append(out, o)
			continue
		}
		if slices.ContainsFunc(o.Products, func(l LineView) bool {
			if f.Product != "" && l.Code != f.Product {
				return false
			}
			switch f.State {
			case "":
				return true
			case "full":
				return l.State == "active" && l.Free == 0
			}
			return l.State == f.State
		}) {
			out = append(out, o)
		}
	}
	return out, nil
}

// OrderChange is a correction of an order by the desk, audited with its
// reason: seats added to a line, a line cancelled, or the purchaser's
// address corrected (FAQ 3.6, 5.3). One change per call.
type OrderChange struct {
	Order, Product string
	AddSeats       int64
	Cancel         bool
	Purchaser      string // the corrected purchaser address
	Reason, Actor  string
}

// ChangeOrder applies an OrderChange in one transaction.
func (d *Desk) ChangeOrder(ctx context.Context, ch OrderChange) error {
	n := 0
	for _, set := range []bool{ch.AddSeats != 0, ch.Cancel, ch.Purchaser != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: change one thing: add seats, cancel a line, or correct the purchaser's address", ErrInvalidInput)
	}
	if err := validText("reason", ch.Reason, 500, true); err != nil {
		return err
	}
	if (ch.AddSeats != 0 || ch.Cancel) && ch.Product == "" {
		return fmt.Errorf("%w: name the order line's product", ErrInvalidInput)
	}
	if ch.AddSeats < 0 || ch.AddSeats > MaxSeats {
		return fmt.Errorf("%w: add 1 to %d seats, not %d", ErrInvalidInput, MaxSeats, ch.AddSeats)
	}
	email := normEmail(ch.Purchaser)
	if ch.Purchaser != "" && (!strings.Contains(email, "@") || validText("e-mail", email, 200, true) != nil) {
		return fmt.Errorf("%w: e-mail %q is not an address", ErrInvalidInput, ch.Purchaser)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		orders, err := tx.LockOrders(ctx, ch.Order)
		if err != nil {
			return err
		}
		o, ok := orders[ch.Order]
		if !ok {
			return fmt.Errorf("%w: order %s", ErrNotFound, ch.Order)
		}
		if ch.Purchaser != "" {
			if email == o.Email {
				return fmt.Errorf("%w: %s is the purchaser's address already", ErrInvalidInput, email)
			}
			if err := tx.SetPurchaser(ctx, o.ID, email); err != nil {
				return err
			}
			return audit(ctx, tx, now, ch.Actor, "order.purchaser", o.ID, "", map[string]any{"from": o.Email, "to": email, "reason": ch.Reason})
		}
		_, m, err := product(ctx, tx, ch.Product)
		if err != nil {
			return err
		}
		st, err := lineState(ctx, tx, o.ID, ch.Product, m)
		if err != nil {
			return err
		}
		if st.line.Cancelled != 0 {
			return fmt.Errorf("%w: %s on order %s was cancelled on %s", ErrConflict, ch.Product, o.ID, day(st.line.Cancelled))
		}
		if ch.AddSeats != 0 {
			if st.line.Seats+ch.AddSeats > MaxSeats {
				return fmt.Errorf("%w: an order line holds at most %d seats", ErrInvalidInput, MaxSeats)
			}
			if err := tx.AddSeats(ctx, o.ID, ch.Product, ch.AddSeats); err != nil {
				return err
			}
			return audit(ctx, tx, now, ch.Actor, "order.seats", o.ID, "", map[string]any{
				"product": ch.Product, "added": ch.AddSeats, "seats": st.line.Seats + ch.AddSeats, "reason": ch.Reason})
		}
		used, err := st.used(ctx, "", nil)
		if err != nil {
			return err
		}
		if m.Keys > 0 {
			// Keys handed out cannot be taken back (A22).
			had, err := keysHandedOut(ctx, tx, o.ID, ch.Product)
			if err != nil {
				return err
			}
			used = (had + int64(m.Keys) - 1) / int64(m.Keys)
		}
		if used > 0 {
			return fmt.Errorf("%w: %d seats of %s on order %s are in use; release them before cancelling the line", ErrConflict, used, ch.Product, o.ID)
		}
		if err := tx.CancelLine(ctx, o.ID, ch.Product, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, ch.Actor, "order.cancel", o.ID, "", map[string]any{"product": ch.Product, "reason": ch.Reason})
	})
}
