package ledger

import (
	"context"
	"fmt"
)

// RenamePool renames a named pool of an order line (A12): the pool, the
// allocations drawn from it and its counters, in this transaction.
func (t *Tx) RenamePool(ctx context.Context, order, product, from, to string) error {
	// Counters the transaction changed are written first, so that the
	// renames below move every one of them.
	if err := t.flushCounters(ctx); err != nil {
		return err
	}
	res, err := t.exec(ctx, `INSERT INTO pools (order_id, product, name, seats, used)
		SELECT order_id, product, ?, seats, used FROM pools WHERE order_id = ? AND product = ? AND name = ?`, to, order, product, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("pool %q of %s on order %s: %w", from, product, order, ErrNotFound)
	}
	for _, q := range []string{
		`UPDATE allocations SET pool = ? WHERE order_id = ? AND product = ? AND pool = ?`,
		`UPDATE pool_usage SET pool = ? WHERE order_id = ? AND product = ? AND pool = ?`,
		`UPDATE group_usage SET pool = ? WHERE order_id = ? AND product = ? AND pool = ?`,
	} {
		if _, err := t.exec(ctx, q, to, order, product, from); err != nil {
			return err
		}
	}
	if _, err := t.exec(ctx, `DELETE FROM pools WHERE order_id = ? AND product = ? AND name = ?`, order, product, from); err != nil {
		return err
	}
	// What the transaction read of the old names is stale now.
	t.c = nil
	return nil
}
