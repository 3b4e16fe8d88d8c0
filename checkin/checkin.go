// Package checkin defines the two small files of keeping in touch online
// (rule A5): the check-in an online installation sends to the portal,
// signed by its installation key, and the acknowledgement the desk answers
// with, signed by the vendor key and bound to the check-in's fresh nonce.
//
// The same acknowledgement answers an online release receipt (bound to the
// receipt's ID), so that a server removes its license only once the desk
// has confirmed, in a file it can verify, that the seats are free.
//
// An acknowledgement may carry a newer license of the activation (a product
// added, a renewal, a pool change): the raw COSE_Sign1 bytes of a license
// file, which the server verifies and installs exactly as `oat install`
// does. The acknowledgement's own signature vouches for nothing in it.
package checkin

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

// NonceSize is the length of a check-in's nonce (its cti).
const NonceSize = 16

// States of an activation an acknowledgement reports.
const (
	StateActive   = "active"   // the activation holds its seats: the contact counts (A5)
	StateReleased = "released" // the seats are back in the pool (an online release confirmed)
)

// CheckIn is the claims map of a check-in, signed by the installation key
// that holds the activation. Integer keys are CWT claims (RFC 8392).
type CheckIn struct {
	Activation string `cbor:"2,keyasint"` // sub: the activation ID
	IssuedAt   int64  `cbor:"6,keyasint"` // iat, Unix seconds (the server's clock, for the desk's records only)
	Nonce      []byte `cbor:"7,keyasint"` // cti: fresh for every check-in; the acknowledgement echoes it
	Sequence   uint64 `cbor:"seq"`        // the license sequence the server holds
}

// Ack is the claims map of an acknowledgement, signed by the vendor key.
type Ack struct {
	Issuer     string `cbor:"1,keyasint"`    // iss: the desk
	Activation string `cbor:"2,keyasint"`    // sub: the activation ID
	IssuedAt   int64  `cbor:"6,keyasint"`    // iat: the desk's time of the contact
	Nonce      []byte `cbor:"nonce"`         // the check-in's cti, or the online release receipt's cti
	State      string `cbor:"state"`         // StateActive or StateReleased
	Sequence   uint64 `cbor:"seq"`           // the activation's newest license sequence at the desk
	License    []byte `cbor:"lic,omitempty"` // a newer license (raw COSE_Sign1), when the server's is older
}

// Errors callers branch on.
var (
	// ErrNotAnswer means a verified acknowledgement answers another
	// check-in or receipt than the one sent: a replay or a mix-up.
	ErrNotAnswer = errors.New("the acknowledgement does not answer this check-in (a replayed or mixed-up answer)")
)

// SealCheckIn signs c with the installation key and returns the armored file.
func SealCheckIn(c CheckIn, installation ed25519.PrivateKey) ([]byte, error) {
	if len(c.Nonce) != NonceSize {
		return nil, fmt.Errorf("check-in nonce must be %d bytes", NonceSize)
	}
	return signing.Seal(signing.CheckIn, installation, c)
}

// PeekCheckIn decodes a check-in without verifying it, so that the desk
// can find the activation and its installation key. Nothing in the result
// may be trusted until ParseCheckIn has verified the same bytes.
func PeekCheckIn(data []byte) (*CheckIn, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Expect(signing.CheckIn); err != nil {
		return nil, err
	}
	return checkInClaims(m)
}

// ParseCheckIn decodes a check-in and verifies it with the installation
// key the desk holds for its activation: the signature first, as for every
// oat file, then the claims.
func ParseCheckIn(data []byte, installation ed25519.PublicKey) (*CheckIn, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Expect(signing.CheckIn); err != nil {
		return nil, err
	}
	if err := m.Verify(installation); err != nil {
		return nil, err
	}
	return checkInClaims(m)
}

func checkInClaims(m *signing.Message) (*CheckIn, error) {
	var c CheckIn
	if err := signing.UnmarshalClaims(m.Payload, &c); err != nil {
		return nil, fmt.Errorf("check-in: %w", err)
	}
	if len(c.Nonce) != NonceSize {
		return nil, fmt.Errorf("%w: check-in nonce is %d bytes, want %d", signing.ErrClaims, len(c.Nonce), NonceSize)
	}
	if c.Activation == "" || c.Sequence == 0 {
		return nil, fmt.Errorf("%w: a check-in names its activation and license sequence", signing.ErrClaims)
	}
	return &c, nil
}

// SealAck signs a with the vendor key and returns the armored file.
func SealAck(a Ack, vendor ed25519.PrivateKey) ([]byte, error) {
	if err := a.valid(); err != nil {
		return nil, err
	}
	return signing.Seal(signing.Ack, vendor, a)
}

func (a *Ack) valid() error {
	if len(a.Nonce) == 0 || len(a.Nonce) > 64 {
		return fmt.Errorf("%w: an acknowledgement's nonce is 1 to 64 bytes", signing.ErrClaims)
	}
	if a.Activation == "" {
		return fmt.Errorf("%w: an acknowledgement names its activation", signing.ErrClaims)
	}
	if a.State != StateActive && a.State != StateReleased {
		return fmt.Errorf("%w: unknown activation state %q", signing.ErrClaims, a.State)
	}
	if a.State == StateReleased && len(a.License) > 0 {
		return fmt.Errorf("%w: a release acknowledgement carries no license", signing.ErrClaims)
	}
	return nil
}

// ParseAck decodes an acknowledgement and verifies it with a trusted
// vendor key. Whether it answers the check-in sent is Answers' business.
func ParseAck(data []byte, vendors *keys.TrustSet) (*Ack, error) {
	var a Ack
	if _, err := signing.Open(data, signing.Ack, vendors, &a); err != nil {
		return nil, err
	}
	if err := a.valid(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Answers returns nil if a answers the check-in or receipt with this
// nonce for this activation, in the state expected.
func (a *Ack) Answers(activation string, nonce []byte, state string) error {
	if !bytes.Equal(a.Nonce, nonce) || a.Activation != activation {
		return ErrNotAnswer
	}
	if a.State != state {
		return fmt.Errorf("the desk reports activation %s as %s", a.Activation, a.State)
	}
	return nil
}
