package ledger

import (
	"context"
	"fmt"
)

// AddressUsed reports whether an address activated on an order, and
// whether any address did (A8): two index lookups.
func (t *Tx) AddressUsed(ctx context.Context, order, email string) (used, any bool, err error) {
	var n int
	err = t.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM order_addresses WHERE order_id = ? AND email = ? LIMIT 1) x`, order, email).Scan(&n)
	if err != nil || n > 0 {
		return n > 0, n > 0, err
	}
	err = t.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM order_addresses WHERE order_id = ? LIMIT 1) x`, order).Scan(&n)
	return false, n > 0, err
}

// RecordAddress notes that an address activated on an order; recording
// it again keeps the first time.
func (t *Tx) RecordAddress(ctx context.Context, order, email string, at int64) error {
	_, err := t.exec(ctx, `INSERT INTO order_addresses (order_id, email, first_seen) VALUES (?, ?, ?)
		ON CONFLICT (order_id, email) DO NOTHING`, order, email, at)
	return err
}

// SeatOwner is the owner of a seat licensed to a person (B22).
type SeatOwner struct {
	Order, Product, Owner string
	FirstActivated        int64
}

// SeatOwners returns the owners of an order line's seats, by first
// activation: at most the line's seats rows, read by primary key prefix.
func (t *Tx) SeatOwners(ctx context.Context, order, product string) ([]SeatOwner, error) {
	rows, err := t.query(ctx, `SELECT order_id, product, owner, first_activated FROM seat_owners
		WHERE order_id = ? AND product = ? ORDER BY first_activated, owner`, order, product)
	return collect(rows, err, func(r scanner) (SeatOwner, error) {
		var s SeatOwner
		err := r.Scan(&s.Order, &s.Product, &s.Owner, &s.FirstActivated)
		return s, err
	})
}

// InsertSeatOwner gives a seat to its owner.
func (t *Tx) InsertSeatOwner(ctx context.Context, s SeatOwner) error {
	_, err := t.exec(ctx, `INSERT INTO seat_owners (order_id, product, owner, first_activated) VALUES (?, ?, ?, ?)`,
		s.Order, s.Product, s.Owner, s.FirstActivated)
	return err
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
