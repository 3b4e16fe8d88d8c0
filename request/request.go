// Package request defines the activation request file: what an isolated
// server asks the license desk for, signed by the installation's own key.
//
// A request carries the three things activation takes (A1: order ID,
// fulfillment number, e-mail), what the rules allow to be collected (A3:
// computer name, hashed machine identifiers, and name, company and phone
// only when entered), the product codes asked for, the installation's
// public key (the RFC 8747 cnf claim) and a fresh nonce (the cti claim) that
// the answering license must echo.
package request

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/signing"
)

// NonceSize is the length of a request nonce.
const NonceSize = 16

// Request is the claims map of a request file. Integer keys are CWT claims
// (RFC 8392); text keys are oat's own.
type Request struct {
	IssuedAt    int64                `cbor:"6,keyasint"` // iat, Unix seconds
	Nonce       []byte               `cbor:"7,keyasint"` // cti: the nonce the license must echo
	Confirm     signing.Confirmation `cbor:"8,keyasint"` // cnf: the installation public key
	Order       string               `cbor:"order"`
	Fulfillment string               `cbor:"fn"`
	Email       string               `cbor:"email"`
	Name        string               `cbor:"name,omitempty"`
	Company     string               `cbor:"company,omitempty"`
	Phone       string               `cbor:"phone,omitempty"`
	Products    []string             `cbor:"products,omitempty"`
	Host        string               `cbor:"host"` // computer name (A3)
	Machine     machine.Fingerprint  `cbor:"machine"`
}

// ErrNotSelfSigned means the request's signature does not match the
// installation key it carries.
var ErrNotSelfSigned = errors.New("request is not signed by the installation key it names")

// Seal signs r with the installation key and returns the armored file. The
// cnf claim is set from the key.
func Seal(r Request, installation ed25519.PrivateKey) ([]byte, error) {
	r.Confirm = signing.NewConfirmation(installation.Public().(ed25519.PublicKey))
	if len(r.Nonce) != NonceSize {
		return nil, fmt.Errorf("request nonce must be %d bytes", NonceSize)
	}
	return signing.Seal(signing.Request, installation, r)
}

// Parse decodes a request file and verifies that it is signed by the
// installation key in its cnf claim. It returns the claims and that key.
// Whether the key belongs to a known installation is the caller's question.
func Parse(data []byte) (*Request, ed25519.PublicKey, error) {
	m, err := signing.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Expect(signing.Request); err != nil {
		return nil, nil, err
	}
	var r Request
	if err := signing.UnmarshalClaims(m.Payload, &r); err != nil {
		return nil, nil, err
	}
	pub, err := r.Confirm.PublicKey()
	if err != nil {
		return nil, nil, err
	}
	if keys.KeyID(pub) != m.KeyID {
		return nil, nil, ErrNotSelfSigned
	}
	if err := m.Verify(pub); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotSelfSigned, err)
	}
	if len(r.Nonce) != NonceSize {
		return nil, nil, fmt.Errorf("%w: nonce is %d bytes, want %d", signing.ErrClaims, len(r.Nonce), NonceSize)
	}
	return &r, pub, nil
}

// InstallationKey returns the installation public key named by the request.
func (r *Request) InstallationKey() (ed25519.PublicKey, error) { return r.Confirm.PublicKey() }

// SameInstallation reports whether r was made by the installation with pub.
func (r *Request) SameInstallation(pub ed25519.PublicKey) bool {
	k, err := r.Confirm.PublicKey()
	return err == nil && bytes.Equal(k, pub)
}
