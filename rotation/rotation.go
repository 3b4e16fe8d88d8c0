// Package rotation defines the vendor key rotation statement and the chain
// of trust an installation derives from it.
//
// An installation trusts the vendor keys it was given at init, its roots.
// Trust changes only through statements signed by a key trusted at that
// point of the chain: a statement adds one vendor key or removes one. The
// trusted set is recomputed from the roots and the statements in the order
// they were applied, every time, as TUF verifies root rotations: an
// administrator can therefore not trust a key of their own making, and a
// statement that does not verify against the chain before it is refused.
//
// Two more rules keep the chain monotonic: a statement is applied once (its
// cti), and a key once removed is never trusted again, so an old statement
// cannot bring back a retired or compromised key.
package rotation

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

// IDSize is the length of a statement's cti.
const IDSize = 16

// Statement is the claims map of a rotation statement.
type Statement struct {
	IssuedAt int64  `cbor:"6,keyasint"`       // iat, Unix seconds
	ID       []byte `cbor:"7,keyasint"`       // cti: 16 random bytes, applied once
	Add      []byte `cbor:"add,omitempty"`    // the Ed25519 public key (32 bytes) to trust from now on
	Remove   []byte `cbor:"remove,omitempty"` // the key ID (8 bytes) of the key to stop trusting
}

// Errors callers branch on.
var (
	ErrInvalid        = errors.New("not a valid rotation statement")
	ErrApplied        = errors.New("this rotation statement was applied already")
	ErrRetired        = errors.New("the key was removed from the trusted set earlier and is never trusted again")
	ErrAlreadyTrusted = errors.New("the key is trusted already")
	ErrNotTrusted     = errors.New("the key to remove is not trusted")
	ErrLastKey        = errors.New("removing the only trusted vendor key would leave nothing to verify licenses with")
)

// New returns a statement that adds pub, or with remove set, removes it.
func New(pub ed25519.PublicKey, remove bool, now time.Time) (Statement, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Statement{}, fmt.Errorf("%w: the key is not an Ed25519 public key", ErrInvalid)
	}
	id := make([]byte, IDSize)
	if _, err := rand.Read(id); err != nil {
		return Statement{}, err
	}
	st := Statement{IssuedAt: now.Unix(), ID: id}
	if remove {
		kid := keys.KeyID(pub)
		st.Remove = kid[:]
	} else {
		st.Add = append([]byte(nil), pub...)
	}
	return st, nil
}

// Seal signs the statement with a vendor key and returns the armored file.
func Seal(st Statement, signer ed25519.PrivateKey) ([]byte, error) {
	if err := st.valid(); err != nil {
		return nil, err
	}
	return signing.Seal(signing.Rotation, signer, st)
}

func (st Statement) valid() error {
	if err := st.check(); err != nil {
		return fmt.Errorf("%w: %w", signing.ErrClaims, err)
	}
	return nil
}

func (st Statement) check() error {
	switch {
	case len(st.ID) != IDSize:
		return fmt.Errorf("%w: cti must be %d bytes", ErrInvalid, IDSize)
	case (st.Add == nil) == (st.Remove == nil):
		return fmt.Errorf("%w: it must either add or remove one key", ErrInvalid)
	case st.Add != nil && len(st.Add) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: add must be a %d-byte Ed25519 public key", ErrInvalid, ed25519.PublicKeySize)
	case st.Remove != nil && len(st.Remove) != keys.IDSize:
		return fmt.Errorf("%w: remove must be a %d-byte key ID", ErrInvalid, keys.IDSize)
	}
	return nil
}

// Parse decodes a rotation statement without verifying its signature; the
// signer is the key ID its header names.
func Parse(data []byte) (*Statement, *signing.Message, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Expect(signing.Rotation); err != nil {
		return nil, nil, err
	}
	var st Statement
	if err := signing.UnmarshalClaims(m.Payload, &st); err != nil {
		return nil, nil, err
	}
	if err := st.valid(); err != nil {
		return nil, nil, err
	}
	return &st, m, nil
}

// Trust computes the trusted set from the roots and the statements, in
// order. It fails, naming the statement, if any does not verify against the
// set before it or breaks a rule of the chain.
func Trust(roots []ed25519.PublicKey, statements [][]byte) (*keys.TrustSet, error) {
	c, err := build(roots, statements)
	if err != nil {
		return nil, err
	}
	return c.trust, nil
}

// Next checks one more statement against the chain of roots and
// statements and returns it with the trusted set after it.
func Next(roots []ed25519.PublicKey, statements [][]byte, data []byte) (*Statement, *keys.TrustSet, error) {
	c, err := build(roots, statements)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.apply(data)
	if err != nil {
		return nil, nil, err
	}
	return st, c.trust, nil
}

func build(roots []ed25519.PublicKey, statements [][]byte) (*chain, error) {
	if len(roots) == 0 {
		return nil, errors.New("no root vendor key")
	}
	c := &chain{trust: keys.NewTrustSet(roots...), applied: map[string]bool{}, retired: map[keys.ID]bool{}}
	for i, data := range statements {
		if _, err := c.apply(data); err != nil {
			return nil, fmt.Errorf("rotation statement %d of %d: %w", i+1, len(statements), err)
		}
	}
	return c, nil
}

type chain struct {
	trust   *keys.TrustSet
	applied map[string]bool
	retired map[keys.ID]bool
}

func (c *chain) apply(data []byte) (*Statement, error) {
	st, m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.VerifyTrusted(c.trust); err != nil {
		return nil, fmt.Errorf("signed by vendor key %s, which this installation does not trust at this point: %w", m.KeyID, err)
	}
	if c.applied[string(st.ID)] {
		return nil, ErrApplied
	}
	switch {
	case st.Add != nil:
		pub := ed25519.PublicKey(st.Add)
		id := keys.KeyID(pub)
		if c.retired[id] {
			return nil, fmt.Errorf("key %s: %w", id, ErrRetired)
		}
		if _, err := c.trust.Lookup(id); err == nil {
			return nil, fmt.Errorf("key %s: %w", id, ErrAlreadyTrusted)
		}
		c.trust.Add(pub)
	default:
		id := keys.ID(st.Remove)
		if _, err := c.trust.Lookup(id); err != nil {
			return nil, fmt.Errorf("key %s: %w", id, ErrNotTrusted)
		}
		if len(c.trust.IDs()) == 1 {
			return nil, ErrLastKey
		}
		c.trust.Remove(id)
		c.retired[id] = true
	}
	c.applied[string(st.ID)] = true
	return st, nil
}
