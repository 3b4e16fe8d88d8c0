// Package release defines the release receipt: a deactivated installation's
// signed statement that it gave up a license, which the desk accepts once to
// put the seats back in the "Default (Unassigned Licenses)" pool (A15, A16).
package release

import (
	"crypto/ed25519"
	"fmt"

	"github.com/oat-toolkit/oat/signing"
)

// Receipt is the claims map of a release receipt, signed by the
// installation key that held the license.
type Receipt struct {
	Activation string `cbor:"2,keyasint"`       // sub: the activation ID released
	IssuedAt   int64  `cbor:"6,keyasint"`       // iat, Unix seconds
	ID         []byte `cbor:"7,keyasint"`       // cti: unique ID of this receipt
	Sequence   uint64 `cbor:"seq"`              // the license sequence released
	License    []byte `cbor:"lic"`              // cti of the license released
	Host       string `cbor:"host"`             // computer name, for the desk's records
	Reason     string `cbor:"reason,omitempty"` // free text from the admin
	// Online marks a receipt sent to the portal by an online installation
	// (oat deactivate --portal). The desk takes an online activation's
	// seats back only from such a receipt, sent online, and never from one
	// carried by hand (FAQ 3.11, A20).
	Online bool `cbor:"online,omitempty"`
}

// Seal signs the receipt with the installation key and returns the armored
// file. It refuses a receipt that Parse would refuse: a signed file no
// reader accepts is a seat nobody can give back.
func Seal(r Receipt, installation ed25519.PrivateKey) ([]byte, error) {
	if err := r.valid(); err != nil {
		return nil, err
	}
	return signing.Seal(signing.Release, installation, r)
}

// Parse decodes a receipt and verifies it with the installation key the
// desk holds for the activation; use Peek first to learn which activation.
func Parse(data []byte, installation ed25519.PublicKey) (*Receipt, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Expect(signing.Release); err != nil {
		return nil, err
	}
	if err := m.Verify(installation); err != nil {
		return nil, err
	}
	var r Receipt
	if err := signing.UnmarshalClaims(m.Payload, &r); err != nil {
		return nil, err
	}
	if err := r.valid(); err != nil {
		return nil, err
	}
	return &r, nil
}

// valid checks what the format requires beyond the claims' types: a
// receipt names the license it gives up (format.md §6.4), which also keeps
// another kind's payload (a check-in's) from reading as a receipt.
func (r *Receipt) valid() error {
	if len(r.License) == 0 {
		return fmt.Errorf("%w: the receipt does not name the license it releases (lic)", signing.ErrClaims)
	}
	return nil
}

// Peek decodes a receipt's claims without verifying it, so the desk can
// find the activation and its key. Nothing in the result may be trusted
// until Parse has verified the same bytes.
func Peek(data []byte) (*Receipt, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Expect(signing.Release); err != nil {
		return nil, err
	}
	var r Receipt
	if err := signing.UnmarshalClaims(m.Payload, &r); err != nil {
		return nil, fmt.Errorf("release receipt: %w", err)
	}
	if err := r.valid(); err != nil {
		return nil, fmt.Errorf("release receipt: %w", err)
	}
	return &r, nil
}
