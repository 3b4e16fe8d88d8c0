// Package signing reads and writes oat's signed files: COSE_Sign1 messages
// (RFC 9052) signed with EdDSA over Ed25519, whose protected header names the
// signing key and the kind of file, carried as armored text or raw CBOR.
//
// Decoding treats every input as hostile: the size is capped before any
// parsing, the envelope must be the one deterministic CBOR encoding of
// itself, and headers, algorithms and kinds are checked before the
// signature is. Use Parse, then Verify or VerifyTrusted, then
// UnmarshalClaims on the verified payload.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/oat-toolkit/oat/keys"
)

// MaxMessageSize caps a binary COSE_Sign1 message; MaxFileSize caps a file
// as read from disk or a request body, armored or not.
const (
	MaxMessageSize = 32 << 10
	MaxFileSize    = 64 << 10
)

// COSE constants (RFC 9052, RFC 9053).
const (
	tagSign1       = 18
	headerAlg      = 1
	headerCrit     = 2
	headerCtyp     = 3
	headerKID      = 4
	algEdDSA       = -8
	sigContextSign = "Signature1"
)

// Sentinel errors that callers and tests branch on.
var (
	ErrTooLarge  = errors.New("file is too large")
	ErrMalformed = errors.New("not a well-formed oat file")
	ErrAlgorithm = errors.New("unsupported signature algorithm (only EdDSA/Ed25519 is accepted)")
	ErrCritical  = errors.New("unknown critical header parameter")
	ErrKind      = errors.New("wrong kind of file")
	ErrSignature = errors.New("signature does not verify: the file was altered or signed by another key")
)

// Kind is what an oat file is; it is bound into the signature through the
// protected content type, so one kind can never pass for another.
type Kind uint8

// The kinds of oat file.
const (
	Request Kind = iota + 1
	License
	Release
	// CheckIn is an online installation's signed "still here" (A5).
	CheckIn
	// Ack is the desk's signed answer to a check-in or an online release.
	Ack
	// Rotation is a vendor key rotation statement: a trusted vendor key
	// vouches for adding or removing a vendor key.
	Rotation
)

var kinds = []struct {
	kind        Kind
	name        string
	contentType string
	label       string
}{
	{Request, "request", "application/vnd.oat.request+cbor", "OAT REQUEST"},
	{License, "license", "application/vnd.oat.license+cbor", "OAT LICENSE"},
	{Release, "release receipt", "application/vnd.oat.release+cbor", "OAT RELEASE"},
	{CheckIn, "check-in", "application/vnd.oat.checkin+cbor", "OAT CHECKIN"},
	{Ack, "acknowledgement", "application/vnd.oat.ack+cbor", "OAT ACK"},
	{Rotation, "key rotation statement", "application/vnd.oat.rotation+cbor", "OAT ROTATION"},
}

func (k Kind) String() string {
	for _, e := range kinds {
		if e.kind == k {
			return e.name
		}
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ContentType is the COSE content type (header label 3) of the kind.
func (k Kind) ContentType() string {
	for _, e := range kinds {
		if e.kind == k {
			return e.contentType
		}
	}
	return ""
}

// ArmorLabel is the word in the armor's BEGIN and END lines.
func (k Kind) ArmorLabel() string {
	for _, e := range kinds {
		if e.kind == k {
			return e.label
		}
	}
	return ""
}

func kindOfContentType(ct string) (Kind, bool) {
	for _, e := range kinds {
		if e.contentType == ct {
			return e.kind, true
		}
	}
	return 0, false
}

func kindOfLabel(label string) (Kind, bool) {
	for _, e := range kinds {
		if e.label == label {
			return e.kind, true
		}
	}
	return 0, false
}

// Message is a parsed, not yet verified, oat file.
type Message struct {
	Kind    Kind
	KeyID   keys.ID
	Payload []byte // the claims; trust them only after Verify

	protected []byte
	signature []byte
	raw       []byte
}

// Raw returns the binary COSE_Sign1 encoding of the message.
func (m *Message) Raw() []byte { return m.raw }

type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

type protectedHeader struct {
	Alg         int    `cbor:"1,keyasint"`
	ContentType string `cbor:"3,keyasint"`
	KeyID       []byte `cbor:"4,keyasint"`
}

// Sign returns the binary COSE_Sign1 message of the given kind over payload.
func Sign(kind Kind, priv ed25519.PrivateKey, payload []byte) ([]byte, error) {
	if kind.ContentType() == "" {
		return nil, fmt.Errorf("sign: unknown kind %d", kind)
	}
	id := keys.KeyID(priv.Public().(ed25519.PublicKey))
	prot, err := encMode.Marshal(protectedHeader{Alg: algEdDSA, ContentType: kind.ContentType(), KeyID: id[:]})
	if err != nil {
		return nil, err
	}
	tbs, err := sigStructure(prot, payload)
	if err != nil {
		return nil, err
	}
	msg := sign1{
		Protected:   prot,
		Unprotected: cbor.RawMessage{0xa0},
		Payload:     payload,
		Signature:   ed25519.Sign(priv, tbs),
	}
	body, err := encMode.Marshal(msg)
	if err != nil {
		return nil, err
	}
	out := append([]byte{0xc0 | tagSign1}, body...)
	if len(out) > MaxMessageSize {
		return nil, fmt.Errorf("sign: message of %d bytes exceeds %d: %w", len(out), MaxMessageSize, ErrTooLarge)
	}
	return out, nil
}

func sigStructure(protected, payload []byte) ([]byte, error) {
	return encMode.Marshal([]any{sigContextSign, protected, []byte{}, payload})
}

// Parse decodes an oat file, armored or raw, without verifying it. Every
// structural rule is checked here; the signature is checked by Verify.
func Parse(data []byte) (*Message, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxFileSize)
	}
	raw := data
	armorKind := Kind(0)
	if looksArmored(data) {
		var err error
		armorKind, raw, err = Unarmor(data)
		if err != nil {
			return nil, err
		}
	}
	m, err := parseRaw(raw)
	if err != nil {
		return nil, err
	}
	if armorKind != 0 && armorKind != m.Kind {
		return nil, fmt.Errorf("%w: armored as %s but the signed content type says %s", ErrKind, armorKind, m.Kind)
	}
	return m, nil
}

func parseRaw(raw []byte) (*Message, error) {
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), MaxMessageSize)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrMalformed)
	}
	if raw[0] != 0xc0|tagSign1 {
		return nil, fmt.Errorf("%w: does not start with the COSE_Sign1 tag (18)", ErrMalformed)
	}
	var s sign1
	if err := decMode.Unmarshal(raw[1:], &s); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, describe(err))
	}
	// The envelope must be exactly its own deterministic encoding: no
	// alternative integer widths or other second spellings of one message.
	if again, err := encMode.Marshal(s); err != nil || !bytes.Equal(again, raw[1:]) {
		return nil, fmt.Errorf("%w: not in deterministic CBOR encoding", ErrMalformed)
	}
	if !bytes.Equal(s.Unprotected, []byte{0xa0}) {
		return nil, fmt.Errorf("%w: unprotected header must be empty", ErrMalformed)
	}
	if s.Payload == nil {
		return nil, fmt.Errorf("%w: detached payloads are not accepted", ErrMalformed)
	}
	if len(s.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(s.Signature), ed25519.SignatureSize)
	}
	kind, id, err := parseProtected(s.Protected)
	if err != nil {
		return nil, err
	}
	// The payload is signed as bytes: a second spelling of the same claims
	// (unsorted keys, long integer forms) is another file, and refused.
	if err := Deterministic(s.Payload); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrClaims, err)
	}
	return &Message{Kind: kind, KeyID: id, Payload: s.Payload, protected: s.Protected, signature: s.Signature, raw: raw}, nil
}

func parseProtected(prot []byte) (Kind, keys.ID, error) {
	var id keys.ID
	var h map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(prot, &h); err != nil {
		return 0, id, fmt.Errorf("%w: protected header: %s", ErrMalformed, describe(err))
	}
	if crit, ok := h[headerCrit]; ok {
		var labels []any
		if err := decMode.Unmarshal(crit, &labels); err != nil || len(labels) == 0 {
			return 0, id, fmt.Errorf("%w: crit must be a non-empty array of labels", ErrMalformed)
		}
		for _, l := range labels {
			n, isInt := l.(int64)
			if !isInt || (n != headerAlg && n != headerCtyp && n != headerKID) {
				return 0, id, fmt.Errorf("%w: %v", ErrCritical, l)
			}
			if _, present := h[n]; !present {
				return 0, id, fmt.Errorf("%w: %v is marked critical but absent", ErrCritical, l)
			}
		}
	}
	// Only one encoding of the header is accepted: reordered labels or a
	// longer integer form would be the same header spelled another way.
	if err := Deterministic(prot); err != nil {
		return 0, id, fmt.Errorf("%w: protected header: %w", ErrMalformed, err)
	}
	for label := range h {
		switch label {
		case headerAlg, headerCrit, headerCtyp, headerKID:
		default:
			return 0, id, fmt.Errorf("%w: unknown header parameter %d", ErrMalformed, label)
		}
	}
	var alg int64
	if err := decMode.Unmarshal(h[headerAlg], &alg); err != nil || alg != algEdDSA {
		return 0, id, fmt.Errorf("%w: alg is %s", ErrAlgorithm, diag(h[headerAlg]))
	}
	var ct string
	if err := decMode.Unmarshal(h[headerCtyp], &ct); err != nil {
		return 0, id, fmt.Errorf("%w: content type is missing or not text", ErrKind)
	}
	kind, ok := kindOfContentType(ct)
	if !ok {
		return 0, id, fmt.Errorf("%w: unknown content type %q", ErrKind, ct)
	}
	var kid []byte
	if err := decMode.Unmarshal(h[headerKID], &kid); err != nil || len(kid) != keys.IDSize {
		return 0, id, fmt.Errorf("%w: key ID must be %d bytes", ErrMalformed, keys.IDSize)
	}
	copy(id[:], kid)
	return kind, id, nil
}

func diag(raw cbor.RawMessage) string {
	if raw == nil {
		return "missing"
	}
	s, err := cbor.Diagnose(raw)
	if err != nil {
		return "not decodable"
	}
	return s
}

// Verify checks the signature with pub, which must be the key the header names.
func (m *Message) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || smallOrder(pub) {
		return fmt.Errorf("%w: the public key is not a usable Ed25519 key", ErrSignature)
	}
	if keys.KeyID(pub) != m.KeyID {
		return fmt.Errorf("%w: signed by key %s, not by key %s", ErrSignature, m.KeyID, keys.KeyID(pub))
	}
	tbs, err := sigStructure(m.protected, m.Payload)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, tbs, m.signature) {
		return ErrSignature
	}
	return nil
}

// smallOrder reports whether pub encodes a point of small order (or one of
// their non-canonical encodings). crypto/ed25519 verifies without the
// cofactor and accepts such keys, for which anyone can forge a signature
// in a few tries without a private key; a request carries its own key, so
// this check is what stops a forged request or release receipt.
func smallOrder(pub ed25519.PublicKey) bool {
	for _, w := range smallOrderPoints {
		// The sign bit does not change the point's order.
		if bytes.Equal(pub[:31], w[:31]) && pub[31]&0x7f == w[31] {
			return true
		}
	}
	return false
}

// smallOrderPoints are the y coordinates of the points of order 1, 2, 4
// and 8, and the unreduced encodings p and p+1 of 0 and 1 (as in
// libsodium's blocklist), little-endian, sign bit clear.
var smallOrderPoints = [][32]byte{
	{0x00},
	{0x01},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// VerifyTrusted checks the signature with the trusted key the header names.
func (m *Message) VerifyTrusted(t *keys.TrustSet) error {
	pub, err := t.Lookup(m.KeyID)
	if err != nil {
		return fmt.Errorf("key %s: %w", m.KeyID, err)
	}
	return m.Verify(pub)
}

// Expect returns an error unless the message is of kind k.
func (m *Message) Expect(k Kind) error {
	if m.Kind != k {
		return fmt.Errorf("%w: this is a %s, not a %s", ErrKind, m.Kind, k)
	}
	return nil
}

// Seal encodes claims in deterministic CBOR, signs them as kind with priv and
// returns the armored file.
func Seal(kind Kind, priv ed25519.PrivateKey, claims any) ([]byte, error) {
	payload, err := MarshalClaims(claims)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", kind, err)
	}
	raw, err := Sign(kind, priv, payload)
	if err != nil {
		return nil, err
	}
	return Armor(kind, raw), nil
}

// Open parses data as a file of kind k, verifies it against the trusted keys
// and decodes its claims into v.
func Open(data []byte, k Kind, t *keys.TrustSet, v any) (*Message, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Expect(k); err != nil {
		return nil, err
	}
	if err := m.VerifyTrusted(t); err != nil {
		return nil, err
	}
	if err := UnmarshalClaims(m.Payload, v); err != nil {
		return nil, err
	}
	return m, nil
}
