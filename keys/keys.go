// Package keys holds oat's Ed25519 key handling: key IDs, PEM SPKI public
// keys, private keys encrypted at rest with a passphrase, and trust sets of
// vendor public keys.
//
// A key ID is the first 8 bytes of SHA-256 over the public key's DER-encoded
// SubjectPublicKeyInfo, so anyone holding the .pub file can recompute it with
// stock tools:
//
//	openssl pkey -pubin -in vendor.pub -outform DER | sha256sum | cut -c1-16
package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// IDSize is the length in bytes of a key ID.
const IDSize = 8

// ID identifies a public key inside oat files (the COSE "kid" header).
type ID [IDSize]byte

// String returns the key ID as lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// spkiPrefix is the DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410)
// up to the key itself: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
// Every Ed25519 SPKI is this prefix and the 32 key bytes, so the key ID needs
// no ASN.1 encoder on the hot path of verifying and signing.
var spkiPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

// KeyID returns the ID of an Ed25519 public key.
func KeyID(pub ed25519.PublicKey) ID {
	if len(pub) != ed25519.PublicKeySize {
		// Only reachable with a public key of the wrong length, a programming error.
		panic(fmt.Sprintf("keys: Ed25519 public key of %d bytes", len(pub)))
	}
	h := sha256.New()
	h.Write(spkiPrefix)
	h.Write(pub)
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// ErrNotPublicKey means the input holds no Ed25519 public key in PEM SPKI form.
var ErrNotPublicKey = errors.New("not an Ed25519 public key in PEM form (-----BEGIN PUBLIC KEY-----)")

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY" block (SPKI), the form
// that OpenSSL and every crypto library read.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("keys: invalid Ed25519 public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeys reads every PEM "PUBLIC KEY" block in data. It fails if
// there is none, if any block is not an Ed25519 key, or if anything but
// white space surrounds the blocks.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	if len(data) > MaxPublicKeyFile {
		return nil, fmt.Errorf("public key file is larger than %d bytes", MaxPublicKeyFile)
	}
	var out []ed25519.PublicKey
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("unexpected PEM block %q: %w", block.Type, ErrNotPublicKey)
		}
		if len(block.Headers) != 0 {
			return nil, fmt.Errorf("PEM block has headers: %w", ErrNotPublicKey)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrNotPublicKey)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key is %T: %w", k, ErrNotPublicKey)
		}
		out = append(out, pub)
	}
	if len(out) == 0 || len(trimSpace(rest)) != 0 {
		return nil, ErrNotPublicKey
	}
	return out, nil
}

// ParsePublicKey reads exactly one PEM SPKI Ed25519 public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	ks, err := ParsePublicKeys(data)
	if err != nil {
		return nil, err
	}
	if len(ks) != 1 {
		return nil, fmt.Errorf("file holds %d public keys, want one", len(ks))
	}
	return ks[0], nil
}

// MaxPublicKeyFile caps the size of a public key or trust file read from disk.
const MaxPublicKeyFile = 64 << 10

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
