package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// Transfers, standby copies and re-activation after recovery (A16, A26,
// B3, B7–B14) need no model of their own: a license is counted per
// activation, an activation is one installation on one machine, and a
// transfer is a release followed by an activation. Running the old and the
// new machine in parallel therefore takes a second seat, which is what a
// subscription for the parallel period buys (B7, B8, B12); a standby copy
// is another machine and takes its own seat unless the original is
// released (B3, B9, B13) or a Virtual license covers its host (B9, B13).
//
// The one case the desk decides for the customer is a recovered
// installation (A26): the same installation key from other hardware. Issue
// refuses it while the old activation holds its seats (a clone looks the
// same, B4); once the old activation is released Issue answers it as a new
// one. When the customer cannot produce a release receipt (the old
// hardware is gone) the desk may approve the move, and Move releases the
// old activation and activates the new machine in one transaction, so the
// seat moves and is never held twice.

// ErrNothingToMove refuses a move that is not one.
var ErrNothingToMove = errors.New("nothing to move")

// Move answers a request from an installation that is active on another
// machine, recovered or moved to new hardware (A26), by releasing its old
// activation and activating it here in one transaction, with the desk's
// approval given by calling it. reason is recorded in the audit log.
func (d *Desk) Move(ctx context.Context, vendor ed25519.PrivateKey, name string, data []byte, opt IssueOptions, reason string) (*Issued, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	if err := validText("reason", reason, 500, true); err != nil {
		return nil, err
	}
	if opt.Method == "" {
		opt.Method = Offline
	}
	if err := validText("group", opt.Group, 200, false); err != nil {
		return nil, err
	}
	r, pub, err := request.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrBadFile, err)
	}
	if err := validRequest(r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out Issued
	err = d.db.Update(ctx, func(tx *ledger.Tx) error {
		now := d.now().Unix()
		if err := checkVendor(ctx, tx, signerOf(vendor), now, opt.Actor); err != nil {
			return err
		}
		old, err := tx.ActiveActivationByKey(ctx, pub)
		if errors.Is(err, ledger.ErrNotFound) {
			return fmt.Errorf("%w: this installation holds no active activation; issue the request as usual", ErrNothingToMove)
		}
		if err != nil {
			return err
		}
		var stored machine.Fingerprint
		if err := signing.UnmarshalClaims(old.Machine, &stored); err != nil {
			return fmt.Errorf("activation %s: machine in the ledger: %w", old.ID, err)
		}
		if m, err := machine.Compare(stored, r.Machine); err == nil && m.OK {
			return fmt.Errorf("%w: this installation is activated as %s on this same machine; issue the request as usual", ErrNothingToMove, old.ID)
		}
		if _, err := releaseActivation(ctx, tx, old, "release.moved", opt.Actor, reason, now, map[string]any{"to_host": r.Host}); err != nil {
			return err
		}
		orders, err := tx.LockOrders(ctx, r.Order)
		if err != nil {
			return err
		}
		b, err := newBatch(ctx, tx, orders, [][]byte{r.Nonce}, [][]byte{pub})
		if err != nil {
			return err
		}
		b.cache.signer = keyID(signerOf(vendor))
		out, err = d.issueOne(ctx, b, parsedRequest{name, r, pub}, opt, now)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.File, err = response.Seal(out.License, vendor); err != nil {
		return nil, fmt.Errorf("%s: sign the license: %w", name, err)
	}
	return &out, nil
}
