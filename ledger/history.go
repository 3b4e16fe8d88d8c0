package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// AddressUsed reports whether an address activated on an order, and
// whether any address did (A8): two index lookups, and the addresses this
// transaction recorded.
func (t *Tx) AddressUsed(ctx context.Context, order, email string) (used, any bool, err error) {
	var deferred bool
	if t.w != nil {
		for _, a := range t.w.addrs.rows {
			if a.order == order {
				if a.email == email {
					return true, true, nil
				}
				deferred = true
			}
		}
	}
	var n int
	err = t.queryRowDirect(ctx, `SELECT count(*) FROM (SELECT 1 FROM order_addresses WHERE order_id = ? AND email = ? LIMIT 1) x`, order, email).Scan(&n)
	if err != nil || n > 0 || deferred {
		return n > 0, n > 0 || deferred, err
	}
	err = t.queryRowDirect(ctx, `SELECT count(*) FROM (SELECT 1 FROM order_addresses WHERE order_id = ? LIMIT 1) x`, order).Scan(&n)
	return false, n > 0, err
}

// RecordAddress notes that an address activated on an order; recording
// it again keeps the first time.
func (t *Tx) RecordAddress(ctx context.Context, order, email string, at int64) error {
	a := orderAddress{order, email, at}
	if t.w != nil {
		t.w.addrs.add(a)
		return nil
	}
	return t.recordAddressRows(ctx, []orderAddress{a})
}

func (t *Tx) recordAddressRows(ctx context.Context, as []orderAddress) error {
	seen := map[[2]string]bool{}
	var rows [][]any
	for _, a := range as {
		if k := [2]string{a.order, a.email}; !seen[k] {
			seen[k] = true
			rows = append(rows, []any{a.order, a.email, a.at})
		}
	}
	return t.insertRows(ctx, `INSERT INTO order_addresses (order_id, email, first_seen)`, 3, rows,
		` ON CONFLICT (order_id, email) DO NOTHING`)
}

// SeatOwner is the owner of a seat licensed to a person (B22).
type SeatOwner struct {
	Order, Product, Owner string
	FirstActivated        int64
}

// SeatOwners returns the owners of an order line's seats, by first
// activation: at most the line's seats rows, read by primary key prefix,
// and those this transaction has yet to write.
func (t *Tx) SeatOwners(ctx context.Context, order, product string) ([]SeatOwner, error) {
	rows, err := t.queryDirect(ctx, `SELECT order_id, product, owner, first_activated FROM seat_owners
		WHERE order_id = ? AND product = ? ORDER BY first_activated, owner`, order, product)
	out, err := collect(rows, err, func(r scanner) (SeatOwner, error) {
		var s SeatOwner
		err := r.Scan(&s.Order, &s.Product, &s.Owner, &s.FirstActivated)
		return s, err
	})
	if err != nil || t.w == nil {
		return out, err
	}
	n := len(out)
	for _, s := range t.w.owners.todo() {
		if s.Order == order && s.Product == product {
			out = append(out, s)
		}
	}
	if len(out) > n {
		slices.SortStableFunc(out, func(a, b SeatOwner) int {
			return cmp.Or(cmp.Compare(a.FirstActivated, b.FirstActivated), cmp.Compare(a.Owner, b.Owner))
		})
	}
	return out, nil
}

// InsertSeatOwner gives a seat to its owner.
func (t *Tx) InsertSeatOwner(ctx context.Context, s SeatOwner) error {
	if t.w != nil {
		t.w.owners.add(s)
		return nil
	}
	return t.insertSeatOwnerRows(ctx, []SeatOwner{s})
}

func (t *Tx) insertSeatOwnerRows(ctx context.Context, ss []SeatOwner) error {
	rows := make([][]any, len(ss))
	for i, s := range ss {
		rows[i] = []any{s.Order, s.Product, s.Owner, s.FirstActivated}
	}
	return t.insertRows(ctx, `INSERT INTO seat_owners (order_id, product, owner, first_activated)`, 4, rows, "")
}

// ReassignSeat gives a seat to another owner, keeping its first activation.
func (t *Tx) ReassignSeat(ctx context.Context, order, product, from, to string) error {
	res, err := t.exec(ctx, `UPDATE seat_owners SET owner = ? WHERE order_id = ? AND product = ? AND owner = ?`, to, order, product, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("seat of %s on order %s, %s: %w", from, order, product, ErrNotFound)
	}
	return nil
}

// ActiveInGroup counts the active allocations of a group on an order line.
func (t *Tx) ActiveInGroup(ctx context.Context, order, product, group string) (int64, error) {
	var n int64
	err := t.queryRow(ctx, `SELECT count(*) FROM allocations WHERE order_id = ? AND product = ? AND grp = ? AND released = 0`,
		order, product, group).Scan(&n)
	return n, err
}

// AddSeats adds seats to an order line (a purchase added to it).
func (t *Tx) AddSeats(ctx context.Context, order, product string, n int64) error {
	_, err := t.exec(ctx, `UPDATE order_lines SET seats = seats + ? WHERE order_id = ? AND product = ?`, n, order, product)
	return err
}

// CancelLine marks an order line cancelled.
func (t *Tx) CancelLine(ctx context.Context, order, product string, at int64) error {
	_, err := t.exec(ctx, `UPDATE order_lines SET cancelled = ? WHERE order_id = ? AND product = ?`, at, order, product)
	return err
}

// SetPurchaser corrects an order's purchaser address.
func (t *Tx) SetPurchaser(ctx context.Context, order, email string) error {
	_, err := t.exec(ctx, `UPDATE orders SET email = ? WHERE order_id = ?`, email, order)
	return err
}
