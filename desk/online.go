package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// ErrMethod means a file was sent the other method's way: an offline
// receipt for an online activation (FAQ 3.11), a check-in from an offline
// one. Callers branch on it to send the admin the right way.
var ErrMethod = errors.New("the activation was made the other way")

// CheckIn answers an online installation's check-in (A5) with an
// acknowledgement signed by vendor and bound to the check-in's nonce. If
// the desk has a newer license for the activation than the one the server
// holds (a product added, a renewal, a pool change), the acknowledgement
// carries it.
//
// A check-in changes nothing in the ledger: it is the high-volume path of a
// vendor with many online servers, and the A5 timeline is the server's to
// keep, counted from acknowledgements it can verify. It is one read
// transaction, one signature verified and one made.
func (d *Desk) CheckIn(ctx context.Context, vendor ed25519.PrivateKey, data []byte) ([]byte, *checkin.Ack, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, nil, errors.New("desk: no vendor key")
	}
	peek, err := checkin.PeekCheckIn(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	var act ledger.Activation
	var newer *ledger.License
	err = d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		if act, err = tx.PeekActivation(ctx, peek.Activation); err != nil {
			return err
		}
		if act.Seq > int64(peek.Sequence) {
			l, err := tx.LatestLicense(ctx, act.ID)
			if err != nil {
				return err
			}
			newer = &l
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := checkin.ParseCheckIn(data, ed25519.PublicKey(act.InstallKey))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the check-in is not signed by the installation of activation %s: %w", ErrBadFile, act.ID, err)
	}
	switch {
	case act.State != "active":
		return nil, nil, fmt.Errorf("%w: activation %s was released; activate this server again to use it", ErrConflict, act.ID)
	case act.Method != Online:
		return nil, nil, fmt.Errorf("%w: activation %s was made offline and needs no check-in", ErrMethod, act.ID)
	case c.Sequence > uint64(act.Seq):
		return nil, nil, fmt.Errorf("%w: the check-in holds license %d, but activation %s is at %d", ErrBadFile, c.Sequence, act.ID, act.Seq)
	}
	a := checkin.Ack{Issuer: d.name, Activation: act.ID, IssuedAt: d.now().Unix(), Nonce: c.Nonce,
		State: checkin.StateActive, Sequence: uint64(act.Seq)}
	if newer != nil {
		// The license is signed again from the claims the ledger stored:
		// Ed25519 is deterministic, so these are the very bytes issued.
		var l response.License
		if err := signing.UnmarshalClaims(newer.Claims, &l); err != nil {
			return nil, nil, fmt.Errorf("license %d of activation %s in the ledger: %w", newer.Seq, act.ID, err)
		}
		payload, err := signing.MarshalClaims(l)
		if err != nil {
			return nil, nil, err
		}
		if a.License, err = signing.Sign(signing.License, vendor, payload); err != nil {
			return nil, nil, fmt.Errorf("sign the license: %w", err)
		}
	}
	file, err := checkin.SealAck(a, vendor)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the acknowledgement: %w", err)
	}
	return file, &a, nil
}

// ReleaseOnline accepts an online installation's release receipt (sent by
// oat deactivate --portal) and answers with an acknowledgement, signed by
// vendor and bound to the receipt's ID, that the seats are back in the
// pool (A15). The same receipt sent again (the answer was lost on the way)
// gets the acknowledgement again and frees nothing twice.
func (d *Desk) ReleaseOnline(ctx context.Context, vendor ed25519.PrivateKey, receipt []byte) ([]byte, *Released, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, nil, errors.New("desk: no vendor key")
	}
	out, r, err := d.release(ctx, receipt, true)
	if err != nil {
		return nil, nil, err
	}
	a := checkin.Ack{Issuer: d.name, Activation: out.Activation, IssuedAt: d.now().Unix(), Nonce: r.ID,
		State: checkin.StateReleased, Sequence: r.Sequence}
	file, err := checkin.SealAck(a, vendor)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the acknowledgement: %w", err)
	}
	return file, out, nil
}

// checkReceiptMethod applies FAQ 3.11 and A20: an activation is released
// the way it was made. online says the receipt came through the online
// release.
func checkReceiptMethod(act ledger.Activation, r *release.Receipt, online bool) error {
	switch {
	case act.Method == Online && !(online && r.Online):
		return fmt.Errorf("%w: activation %s (host %q) was activated online, and an offline release receipt cannot release it (FAQ 3.11): "+
			"release it from the server with oat deactivate --portal, or, for a machine that is gone, ask the license desk (oat desk release-stale)",
			ErrMethod, act.ID, act.Host)
	case act.Method != Online && (online || r.Online):
		return fmt.Errorf("%w: activation %s (host %q) was activated offline: release it with the receipt of oat deactivate --out, uploaded to the portal or given to oat desk release (A20)",
			ErrMethod, act.ID, act.Host)
	}
	return nil
}
