package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Confirmation is the RFC 8747 "cnf" claim holding a COSE_Key (RFC 9053
// OKP/Ed25519). oat uses it to bind a request, license or receipt to the
// installation key that made the request.
type Confirmation struct {
	Key COSEKey `cbor:"1,keyasint"`
}

// COSEKey is an Ed25519 public key as a COSE_Key map {1: 1, -1: 6, -2: x}.
type COSEKey struct {
	KeyType int    `cbor:"1,keyasint"`
	Curve   int    `cbor:"-1,keyasint"`
	X       []byte `cbor:"-2,keyasint"`
}

const (
	coseKeyTypeOKP   = 1
	coseCurveEd25519 = 6
)

// ErrConfirmation means a cnf claim does not hold an Ed25519 public key.
var ErrConfirmation = errors.New("cnf claim is not an Ed25519 COSE_Key")

// NewConfirmation returns the cnf claim for pub.
func NewConfirmation(pub ed25519.PublicKey) Confirmation {
	return Confirmation{Key: COSEKey{KeyType: coseKeyTypeOKP, Curve: coseCurveEd25519, X: append([]byte(nil), pub...)}}
}

// PublicKey returns the key in the claim after checking its type.
func (c Confirmation) PublicKey() (ed25519.PublicKey, error) {
	if c.Key.KeyType != coseKeyTypeOKP || c.Key.Curve != coseCurveEd25519 || len(c.Key.X) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w (kty %d, crv %d, %d-byte x)", ErrConfirmation, c.Key.KeyType, c.Key.Curve, len(c.Key.X))
	}
	return ed25519.PublicKey(c.Key.X), nil
}
