package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// Change is what an update does to an activation before it issues the
// next license. An empty Change is refused unless Reissue says so.
type Change struct {
	// Reissue issues the next license with nothing changed (what a
	// recovery test or a lost file needs); without it an update that
	// changes nothing is refused rather than spending a sequence number.
	Reissue bool
	// AddOrder and Fulfillment add an order's products to the activation:
	// a product installed later (A10), a renewal (A19). Products limits
	// them to some of the order's products.
	AddOrder, Fulfillment string
	Products              []string
	// Pool moves the activation's seats of PoolProduct (all its products
	// when empty) to a named pool of their order, or back to the default
	// pool (A12).
	Pool, PoolProduct string
	// Actor is who asks, for the audit log.
	Actor string
}

// Update changes an activation and issues its next license (sequence n+1,
// no nonce: it answers no request), which supersedes the older ones on the
// server (S2).
func (d *Desk) Update(ctx context.Context, vendor ed25519.PrivateKey, activation string, ch Change) (*Issued, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	if ch.AddOrder == "" && ch.Fulfillment == "" && ch.Pool == "" && !ch.Reissue {
		return nil, fmt.Errorf("%w: nothing to change on activation %s: add an order or move it to a pool", ErrInvalidInput, activation)
	}
	if (ch.AddOrder == "") != (ch.Fulfillment == "") {
		return nil, fmt.Errorf("%w: adding an order takes its order ID and fulfillment number", ErrInvalidInput)
	}
	var out Issued
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		now := d.now().Unix()
		if err := checkVendor(ctx, tx, signerOf(vendor), now, ch.Actor); err != nil {
			return err
		}
		act, err := tx.Activation(ctx, activation)
		if err != nil {
			return err
		}
		if act.State != "active" {
			return fmt.Errorf("%w: activation %s was released", ErrConflict, act.ID)
		}
		held, err := tx.ActivationAllocations(ctx, act.ID)
		if err != nil {
			return err
		}
		ids := []string{ch.AddOrder}
		for _, a := range held {
			ids = append(ids, a.Order)
		}
		orders, err := tx.LockOrders(ctx, ids...)
		if err != nil {
			return err
		}
		var fp machine.Fingerprint
		if err := signing.UnmarshalClaims(act.Machine, &fp); err != nil {
			return fmt.Errorf("activation %s: machine in the ledger: %w", act.ID, err)
		}
		detail := map[string]any{}
		c := newTxCache(tx, orders)
		c.signer = keyID(signerOf(vendor))
		if ch.AddOrder != "" {
			o, ok := orders[ch.AddOrder]
			if !ok {
				return fmt.Errorf("%w: order %s is not known to the desk", ErrNotEntitled, ch.AddOrder)
			}
			if !checkFulfillment(o, ch.Fulfillment) {
				return fmt.Errorf("%w: the fulfillment number does not match order %s (A1)", ErrNotEntitled, o.ID)
			}
			if err := c.checkMethod(ctx, o.ID, act.Method); err != nil {
				return err
			}
			codes, err := requestedCodes(ctx, c, o.ID, ch.Products)
			if err != nil {
				return err
			}
			added, _, err := allocateCodes(ctx, c, act, held, o, codes, "", fp, now)
			if err != nil {
				return err
			}
			if len(added) == 0 {
				return fmt.Errorf("%w: activation %s already holds the products of order %s", ErrConflict, act.ID, o.ID)
			}
			if err := tx.RecordAddress(ctx, o.ID, act.Email, now); err != nil {
				return err
			}
			detail["added_order"], detail["added"] = o.ID, added
		}
		if ch.Pool != "" {
			moved, err := movePool(ctx, tx, act, ch.Pool, ch.PoolProduct)
			if err != nil {
				return err
			}
			detail["pool"], detail["moved"] = ch.Pool, moved
		}
		act.Seq++
		act.Updated = now
		// Pool moves change allocations behind the cache's back: read them afresh.
		allocs, err := tx.ActivationAllocations(ctx, act.ID)
		if err != nil {
			return err
		}
		l, err := d.license(ctx, c, act, allocs, true, fp, nil, now)
		if err != nil {
			return err
		}
		detail["seq"] = act.Seq
		if err := audit(ctx, tx, now, ch.Actor, "activation.update", ch.AddOrder, act.ID, detail); err != nil {
			return err
		}
		out = Issued{Name: act.ID, Activation: act.ID, Sequence: l.Sequence, License: l}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.File, err = response.Seal(out.License, vendor); err != nil {
		return nil, fmt.Errorf("sign the license: %w", err)
	}
	return &out, nil
}

// movePool moves an activation's seats to another pool of their order line
// if that pool has room.
func movePool(ctx context.Context, tx *ledger.Tx, act ledger.Activation, pool, code string) ([]string, error) {
	held, err := tx.ActivationAllocations(ctx, act.ID)
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, a := range held {
		if a.Released != 0 || (code != "" && a.Product != code) || a.Pool == pool {
			continue
		}
		_, m, err := product(ctx, tx, a.Product)
		if err != nil {
			return nil, err
		}
		st, err := lineState(ctx, tx, a.Order, a.Product, m)
		if err != nil {
			return nil, err
		}
		if _, ok := st.named[pool]; !ok && pool != ledger.DefaultPool {
			return nil, fmt.Errorf("%w: order %s has no pool %q for %s", ErrNotFound, a.Order, pool, a.Product)
		}
		// The allocation is not in the new pool yet: count it there as extra.
		b := a
		b.Pool = pool
		used, err := st.used(ctx, pool, &b)
		if err != nil {
			return nil, err
		}
		if used > st.poolSeats(pool) {
			return nil, noSeats(ctx, st, pool)
		}
		if err := tx.UpdateAllocation(ctx, b); err != nil {
			return nil, err
		}
		if err := st.record(ctx, a.Pool, pool); err != nil {
			return nil, err
		}
		moved = append(moved, a.Order+"/"+a.Product)
	}
	if len(moved) == 0 {
		return nil, fmt.Errorf("%w: activation %s holds nothing to move to pool %q", ErrInvalidInput, act.ID, pool)
	}
	return moved, nil
}
