// Package response defines the license file, the license desk's signed
// answer to a request, and verifies it for an installation.
//
// A license is bound to one installation (its public key, in the RFC 8747
// cnf claim) and one machine (the hashed fingerprint from the request). The
// first license of an activation echoes the request's nonce; later ones for
// the same activation (a product added, a renewal, a pool change) carry no
// nonce and a higher sequence number, and supersede the older ones.
package response

import (
	"crypto/ed25519"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/signing"
)

// License is the claims map of a license file. Integer keys are CWT claims
// (RFC 8392); text keys are oat's own.
type License struct {
	Issuer     string               `cbor:"1,keyasint"`           // iss: the desk that issued it
	Activation string               `cbor:"2,keyasint"`           // sub: the activation ID at the desk
	Expires    int64                `cbor:"4,keyasint,omitempty"` // exp: when the license file stops being valid; 0 = never
	NotBefore  int64                `cbor:"5,keyasint"`           // nbf, Unix seconds
	IssuedAt   int64                `cbor:"6,keyasint"`           // iat, Unix seconds
	ID         []byte               `cbor:"7,keyasint"`           // cti: unique ID of this license file
	Confirm    signing.Confirmation `cbor:"8,keyasint"`           // cnf: the installation key it is bound to
	Sequence   uint64               `cbor:"seq"`                  // 1 for the first license of an activation, then higher
	Nonce      []byte               `cbor:"nonce,omitempty"`      // the request's cti, when this answers a request
	Host       string               `cbor:"host"`                 // computer name from the request
	Machine    machine.Fingerprint  `cbor:"machine"`              // the machine it is bound to
	Products   []Entitlement        `cbor:"products"`
	// Online marks an online activation's license (A5): the product must
	// keep in touch with the license server, and judges from the desk's
	// signed acknowledgements how long it has been out of touch.
	Online bool `cbor:"online,omitempty"`
}

// Entitlement is one licensed product in a license.
type Entitlement struct {
	Code        string `cbor:"code"`            // product code, e.g. "backup-server"
	Order       string `cbor:"order"`           // order ID it comes from (A1, A2)
	Fulfillment string `cbor:"fn"`              // fulfillment number of that order
	Model       string `cbor:"model"`           // license model: server, virtual, vpack, ...
	Seats       uint32 `cbor:"seats"`           // units held by this activation
	Pool        string `cbor:"pool,omitempty"`  // license pool (A12)
	Expires     int64  `cbor:"exp,omitempty"`   // subscription end, Unix seconds; 0 = perpetual (B1)
	Units       uint32 `cbor:"units,omitempty"` // what the model counts beyond seats: VMs, sockets, agents, guest keys
}

// Seal signs a license with the vendor key and returns the armored file.
func Seal(l License, vendor ed25519.PrivateKey) ([]byte, error) {
	return signing.Seal(signing.License, vendor, l)
}

// Parse decodes a license file and verifies it with a trusted vendor key.
// It checks the signature and the claims' form only; whether the license is
// for this installation, machine, request and time is Check's business.
func Parse(data []byte, vendors *keys.TrustSet) (*License, error) {
	var l License
	if _, err := signing.Open(data, signing.License, vendors, &l); err != nil {
		return nil, err
	}
	if _, err := l.Confirm.PublicKey(); err != nil {
		return nil, err
	}
	return &l, nil
}
