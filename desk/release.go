package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/release"
)

// Released is what a release gave back.
type Released struct {
	Activation string   `json:"activation"`
	Host       string   `json:"host"`
	Products   []string `json:"products"`
	// Repeat says the receipt had been accepted before (an online release
	// sent again after its answer was lost): nothing was freed this time.
	Repeat bool `json:"repeat,omitempty"`
	// Consumed is those of Products whose seats stay used: each
	// deployment consumes its license for good (B23).
	Consumed []string `json:"consumed,omitempty"`
}

// Release accepts a release receipt carried by hand (an offline
// activation's): verified with the installation key the activation was
// issued to, accepted once, and the activation's seats go back to the
// default pool (A15, A16). A receipt for an online activation is refused
// (FAQ 3.11): those are released online, with ReleaseOnline.
func (d *Desk) Release(ctx context.Context, receipt []byte) (*Released, error) {
	out, _, err := d.release(ctx, receipt, false)
	return out, err
}

func (d *Desk) release(ctx context.Context, receipt []byte, online bool) (*Released, *release.Receipt, error) {
	peek, err := release.Peek(receipt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	if len(peek.ID) == 0 || peek.Activation == "" {
		return nil, nil, fmt.Errorf("%w: the receipt names no activation or has no ID", ErrBadFile)
	}
	var out *Released
	var rec *release.Receipt
	err = d.db.Update(ctx, func(tx *ledger.Tx) error {
		now := d.now().Unix()
		act, err := tx.Activation(ctx, peek.Activation)
		if err != nil {
			return err
		}
		r, err := release.Parse(receipt, ed25519.PublicKey(act.InstallKey))
		if err != nil {
			return fmt.Errorf("%w: the receipt is not signed by the installation of activation %s: %w", ErrBadFile, act.ID, err)
		}
		rec = r
		if err := checkReceiptMethod(act, r, online); err != nil {
			return err
		}
		seen, err := tx.ReceiptSeen(ctx, r.ID)
		if err != nil {
			return err
		}
		if seen && online && act.State != "active" {
			// The answer to this very receipt was lost on the way: say
			// again that the seats are free.
			out = &Released{Activation: act.ID, Host: act.Host, Repeat: true}
			return nil
		}
		if seen {
			return fmt.Errorf("%w: this receipt was accepted already", ErrConflict)
		}
		if act.State != "active" {
			return fmt.Errorf("%w: activation %s was released already", ErrConflict, act.ID)
		}
		if r.Sequence == 0 || r.Sequence > uint64(act.Seq) {
			return fmt.Errorf("%w: the receipt releases license %d, but activation %s is at %d", ErrBadFile, r.Sequence, act.ID, act.Seq)
		}
		// A receipt for an older license than the newest one proves only
		// that the older one was removed: the newer one may be installed.
		if r.Sequence < uint64(act.Seq) {
			return fmt.Errorf("%w: the receipt releases license %d of activation %s, which license %d has superseded; install license %d on the server and deactivate again, or have the desk release it (oat desk release-stale)", ErrSuperseded, r.Sequence, act.ID, act.Seq, act.Seq)
		}
		if err := tx.InsertReceipt(ctx, r.ID, act.ID, int64(r.Sequence), now); err != nil {
			return err
		}
		action := "release.receipt"
		if online {
			action = "release.online"
		}
		out, err = releaseActivation(ctx, tx, act, action, "desk", r.Reason, now, map[string]any{"receipt": fmt.Sprintf("%x", r.ID), "seq": r.Sequence})
		return err
	})
	return out, rec, err
}

// ReleaseStale releases an activation by hand, without a receipt: a
// machine that is gone (A21). The reason goes to the audit log.
func (d *Desk) ReleaseStale(ctx context.Context, activation, reason, actor string) (*Released, error) {
	if err := validText("reason", reason, 500, true); err != nil {
		return nil, err
	}
	var out *Released
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		act, err := tx.Activation(ctx, activation)
		if err != nil {
			return err
		}
		if act.State != "active" {
			return fmt.Errorf("%w: activation %s was released already", ErrConflict, act.ID)
		}
		out, err = releaseActivation(ctx, tx, act, "release.stale", actor, reason, d.now().Unix(), map[string]any{})
		return err
	})
	return out, err
}

func releaseActivation(ctx context.Context, tx *ledger.Tx, act ledger.Activation, action, actor, reason string, now int64, detail map[string]any) (*Released, error) {
	held, err := tx.ActivationAllocations(ctx, act.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, a := range held {
		ids = append(ids, a.Order)
	}
	if _, err := tx.LockOrders(ctx, ids...); err != nil {
		return nil, err
	}
	out := &Released{Activation: act.ID, Host: act.Host}
	for _, a := range held {
		if a.Released != 0 {
			continue
		}
		// The seats go back to the default pool (A15): a named pool
		// they came from shrinks by what the release frees in it.
		_, m, err := product(ctx, tx, a.Product)
		if err != nil {
			return nil, err
		}
		st, err := lineState(ctx, tx, a.Order, a.Product, m)
		if err != nil {
			return nil, err
		}
		before, err := st.used(ctx, a.Pool, nil)
		if err != nil {
			return nil, err
		}
		from := a.Pool
		a.Released = now
		a.Pool = ledger.DefaultPool
		if err := tx.UpdateAllocation(ctx, a); err != nil {
			return nil, err
		}
		after, err := st.used(ctx, from, nil)
		if err != nil {
			return nil, err
		}
		if freed := before - after; from != ledger.DefaultPool && freed > 0 {
			// What the pool now holds in use is recorded before it shrinks:
			// the ledger checks the one against the other.
			if err := st.record(ctx, from); err != nil {
				return nil, err
			}
			p := ledger.Pool{Order: a.Order, Product: a.Product, Name: from, Seats: max(st.named[from]-freed, 0)}
			if err := tx.PutPool(ctx, p); err != nil {
				return nil, err
			}
			st.named[from] = p.Seats
		}
		if err := st.record(ctx, from); err != nil {
			return nil, err
		}
		if !slices.Contains(out.Products, a.Product) {
			out.Products = append(out.Products, a.Product)
			_, m, err := product(ctx, tx, a.Product)
			if err != nil {
				return nil, err
			}
			if m.Consumed {
				out.Consumed = append(out.Consumed, a.Product)
			}
		}
	}
	act.State, act.Released, act.ReleaseReason, act.Updated = "released", now, reason, now
	if err := tx.UpdateActivation(ctx, act); err != nil {
		return nil, err
	}
	detail["reason"], detail["products"], detail["host"] = reason, out.Products, act.Host
	order := ""
	if len(ids) > 0 {
		order = ids[0]
	}
	if err := audit(ctx, tx, now, actor, action, order, act.ID, detail); err != nil {
		return nil, err
	}
	return out, nil
}

// isNotFound reports whether err is a missing row.
func isNotFound(err error) bool { return errors.Is(err, ledger.ErrNotFound) }
