// Package forge builds oat files for tests: genuine ones through the real
// Seal functions, and deliberately wrong ones (other headers, other keys,
// other content types, hostile CBOR) written byte by byte.
//
// The CBOR and COSE here are hand-written on purpose and share no code with
// package signing, so that tests which check our encoder, or check our files
// with another implementation, do not trust the code they are checking.
package forge

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// Content types of the three kinds of file, spelled out independently of
// package signing.
const (
	RequestType = "application/vnd.oat.request+cbor"
	LicenseType = "application/vnd.oat.license+cbor"
	ReleaseType = "application/vnd.oat.release+cbor"
)

// AlgEdDSA is the COSE algorithm identifier of EdDSA.
const AlgEdDSA = -8

// Key returns a deterministic Ed25519 key derived from name, so that test
// files are the same bytes on every run.
func Key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("oat test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// Public returns the public half of priv.
func Public(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

// KID returns the key ID of priv's public key as bytes.
func KID(priv ed25519.PrivateKey) []byte {
	id := keys.KeyID(Public(priv))
	return id[:]
}

// Set is one genuine exchange: a request from an installation, the license
// the vendor issued for it, and the receipt that released it.
type Set struct {
	Vendor       ed25519.PrivateKey
	Installation ed25519.PrivateKey

	Request []byte // armored, as written by request.Seal
	License []byte // armored, as written by response.Seal
	Receipt []byte // armored, as written by release.Seal

	RequestClaims request.Request
	LicenseClaims response.License
	ReceiptClaims release.Receipt
}

// Fingerprint returns a machine fingerprint with every identifier present
// at its real size, the largest a request normally carries.
func Fingerprint() machine.Fingerprint {
	d := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:16] }
	return machine.Fingerprint{
		Salt:    d("salt"),
		GUID:    d("guid"),
		UUID:    d("uuid"),
		Serial:  d("serial"),
		Board:   d("board"),
		CPU:     d("cpu"),
		MACs:    [][]byte{d("mac0"), d("mac1")},
		OS:      "linux",
		Class:   "server",
		Hyper:   "kvm",
		Sockets: 2,
	}
}

// NewSet builds the genuine files, deterministically.
func NewSet() (*Set, error) {
	s := &Set{Vendor: Key("vendor"), Installation: Key("installation")}
	const iat = 1767225600 // 2026-01-01T00:00:00Z
	nonce := sha256.Sum256([]byte("request nonce"))
	s.RequestClaims = request.Request{
		IssuedAt:    iat,
		Nonce:       nonce[:request.NonceSize],
		Order:       "ORD-2026-000123",
		Fulfillment: "FN-7734-0042-9918",
		Email:       "it-admin@example-corp.co.jp",
		Name:        "Hanako Yamada",
		Company:     "Example Corporation",
		Phone:       "+81-3-1234-5678",
		Products:    []string{"backup-server", "replica-server"},
		Host:        "backup01.example-corp.local",
		Machine:     Fingerprint(),
	}
	var err error
	if s.Request, err = request.Seal(s.RequestClaims, s.Installation); err != nil {
		return nil, fmt.Errorf("forge request: %w", err)
	}
	s.RequestClaims.Confirm = signing.NewConfirmation(Public(s.Installation))

	lid := sha256.Sum256([]byte("license id"))
	s.LicenseClaims = response.License{
		Issuer:     "desk.example-vendor.com",
		Activation: "act-01JH5Z6V3K8Q9R2T4W6Y8A0C2E",
		Expires:    iat + 3*365*86400,
		NotBefore:  iat,
		IssuedAt:   iat,
		ID:         lid[:16],
		Confirm:    s.RequestClaims.Confirm,
		Sequence:   1,
		Nonce:      s.RequestClaims.Nonce,
		Host:       s.RequestClaims.Host,
		Machine:    s.RequestClaims.Machine,
		Products: []response.Entitlement{
			{Code: "backup-server", Order: "ORD-2026-000123", Fulfillment: "FN-7734-0042-9918", Model: "server", Seats: 1, Pool: "Default (Unassigned Licenses)"},
			{Code: "replica-server", Order: "ORD-2026-000123", Fulfillment: "FN-7734-0042-9918", Model: "server", Seats: 1, Pool: "Default (Unassigned Licenses)", Expires: iat + 365*86400},
			{Code: "backup-virtual", Order: "ORD-2026-000456", Fulfillment: "FN-1180-3321-0007", Model: "virtual", Seats: 1, Pool: "Tokyo DC", Units: 2},
		},
	}
	if s.License, err = response.Seal(s.LicenseClaims, s.Vendor); err != nil {
		return nil, fmt.Errorf("forge license: %w", err)
	}

	rid := sha256.Sum256([]byte("receipt id"))
	s.ReceiptClaims = release.Receipt{
		Activation: s.LicenseClaims.Activation,
		IssuedAt:   iat + 86400,
		ID:         rid[:16],
		Sequence:   1,
		License:    s.LicenseClaims.ID,
		Host:       s.RequestClaims.Host,
		Reason:     "moving to new hardware",
	}
	if s.Receipt, err = release.Seal(s.ReceiptClaims, s.Installation); err != nil {
		return nil, fmt.Errorf("forge receipt: %w", err)
	}
	return s, nil
}

// --- hand-written CBOR (RFC 8949), definite lengths, shortest form ---

// Head encodes a CBOR initial byte and argument in the shortest form.
func Head(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{m | 27}, n)
}

// Int encodes an integer.
func Int(n int64) []byte {
	if n < 0 {
		return Head(1, uint64(-1-n))
	}
	return Head(0, uint64(n))
}

// Bstr encodes a byte string.
func Bstr(b []byte) []byte { return append(Head(2, uint64(len(b))), b...) }

// Tstr encodes a text string.
func Tstr(s string) []byte { return append(Head(3, uint64(len(s))), s...) }

// Array encodes a definite-length array of already encoded items.
func Array(items ...[]byte) []byte {
	out := Head(4, uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// Map encodes a definite-length map from already encoded keys and values,
// given alternately, in the order given (so tests can write wrong orders).
func Map(kv ...[]byte) []byte {
	if len(kv)%2 != 0 {
		panic("forge.Map: odd number of items")
	}
	out := Head(5, uint64(len(kv)/2))
	for _, it := range kv {
		out = append(out, it...)
	}
	return out
}

// --- COSE_Sign1 (RFC 9052) ---

// Protected encodes the protected header oat writes: {1: alg, 3: ctype, 4: kid}.
func Protected(alg int64, contentType string, kid []byte) []byte {
	return Map(Int(1), Int(alg), Int(3), Tstr(contentType), Int(4), Bstr(kid))
}

// SigStructure is the Sig_structure of RFC 9052 §4.4 for COSE_Sign1 with
// empty external AAD: ["Signature1", protected, h”, payload].
func SigStructure(protected, payload []byte) []byte {
	return Array(Tstr("Signature1"), Bstr(protected), Bstr(nil), Bstr(payload))
}

// Sign1 encodes a tagged COSE_Sign1 with an empty unprotected header.
func Sign1(protected, payload, signature []byte) []byte {
	return append([]byte{0xd2}, Array(Bstr(protected), []byte{0xa0}, Bstr(payload), Bstr(signature))...)
}

// SignAs signs payload with priv under the given protected header and
// returns the raw COSE_Sign1.
func SignAs(priv ed25519.PrivateKey, protected, payload []byte) []byte {
	return Sign1(protected, payload, ed25519.Sign(priv, SigStructure(protected, payload)))
}

// Sign signs payload as a file of the given content type with priv, naming
// priv's own key ID: what a holder of priv could write.
func Sign(priv ed25519.PrivateKey, contentType string, payload []byte) []byte {
	return SignAs(priv, Protected(AlgEdDSA, contentType, KID(priv)), payload)
}

// Parts are the four fields of a COSE_Sign1 as found in a file.
type Parts struct {
	Protected, Unprotected, Payload, Signature []byte
}

// Split takes a raw tagged COSE_Sign1 apart without package signing. It
// accepts only what oat writes: tag 18, a 4-array, byte strings and an
// empty unprotected map.
func Split(raw []byte) (Parts, error) {
	var p Parts
	if len(raw) < 2 || raw[0] != 0xd2 || raw[1] != 0x84 {
		return p, errors.New("not a tagged COSE_Sign1 array")
	}
	rest := raw[2:]
	var err error
	if p.Protected, rest, err = readBstr(rest); err != nil {
		return p, fmt.Errorf("protected: %w", err)
	}
	if len(rest) == 0 || rest[0] != 0xa0 {
		return p, errors.New("unprotected header is not an empty map")
	}
	p.Unprotected, rest = rest[:1], rest[1:]
	if p.Payload, rest, err = readBstr(rest); err != nil {
		return p, fmt.Errorf("payload: %w", err)
	}
	if p.Signature, rest, err = readBstr(rest); err != nil {
		return p, fmt.Errorf("signature: %w", err)
	}
	if len(rest) != 0 {
		return p, errors.New("trailing bytes")
	}
	return p, nil
}

func readBstr(b []byte) (val, rest []byte, err error) {
	if len(b) == 0 || b[0]>>5 != 2 {
		return nil, nil, errors.New("not a byte string")
	}
	info := b[0] & 0x1f
	b = b[1:]
	var n uint64
	switch {
	case info < 24:
		n = uint64(info)
	case info == 24 && len(b) >= 1:
		n, b = uint64(b[0]), b[1:]
	case info == 25 && len(b) >= 2:
		n, b = uint64(binary.BigEndian.Uint16(b)), b[2:]
	case info == 26 && len(b) >= 4:
		n, b = uint64(binary.BigEndian.Uint32(b)), b[4:]
	case info == 27 && len(b) >= 8:
		n, b = binary.BigEndian.Uint64(b), b[8:]
	default:
		return nil, nil, errors.New("bad length")
	}
	if n > uint64(len(b)) {
		return nil, nil, errors.New("truncated")
	}
	return b[:n], b[n:], nil
}

// Dearmor decodes armored text without package signing: it drops the
// BEGIN and END lines and decodes the base64 between them.
func Dearmor(text []byte) (label string, raw []byte, err error) {
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) < 3 {
		return "", nil, errors.New("too short")
	}
	first := strings.TrimSpace(lines[0])
	if !strings.HasPrefix(first, "-----BEGIN ") || !strings.HasSuffix(first, "-----") {
		return "", nil, errors.New("no BEGIN line")
	}
	label = strings.TrimSuffix(strings.TrimPrefix(first, "-----BEGIN "), "-----")
	var b64 strings.Builder
	for _, l := range lines[1 : len(lines)-1] {
		b64.WriteString(strings.TrimSpace(l))
	}
	raw, err = base64.StdEncoding.DecodeString(b64.String())
	return label, raw, err
}

// Armor wraps raw in armor with the given label, as oat writes it.
func Armor(label string, raw []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString("-----BEGIN " + label + "-----\n")
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	b.WriteString("-----END " + label + "-----\n")
	return []byte(b.String())
}

// Files returns every regular file directly in dir that is no larger than
// max bytes, for use as fuzz seeds; a missing dir gives none.
func Files(dir string, max int64) [][]byte {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out [][]byte
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > max {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// Seeds returns the genuine files of s, armored and raw, and a few
// well-formed but wrong ones (each kind signed as each other kind).
func (s *Set) Seeds() [][]byte {
	out := [][]byte{s.Request, s.License, s.Receipt}
	for _, f := range out[:3] {
		if _, raw, err := Dearmor(f); err == nil {
			out = append(out, raw)
			p, err := Split(raw)
			if err != nil {
				continue
			}
			for _, ct := range []string{RequestType, LicenseType, ReleaseType} {
				out = append(out, Sign(s.Vendor, ct, p.Payload), Sign(s.Installation, ct, p.Payload))
			}
		}
	}
	return out
}

// Hostile returns crafted inputs of at most about 1 KiB that try to make a
// decoder allocate or recurse without bound: huge declared lengths and
// counts, deep nesting, many map pairs, indefinite lengths, and the same
// inside a COSE_Sign1 envelope, a protected header, a payload and armor.
func Hostile() [][]byte {
	huge := func(major byte) []byte {
		return []byte{major<<5 | 27, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	var items [][]byte
	for _, major := range []byte{2, 3, 4, 5} {
		items = append(items, huge(major), append(Head(major, 1<<31), make([]byte, 64)...))
	}
	nested := func(open byte, n int) []byte {
		b := bytes.Repeat([]byte{open}, n)
		return append(b, 0x00)
	}
	items = append(items,
		nested(0x81, 1000),               // [[[[...]]]]
		nested(0xa1, 500),                // {0: {0: ...}} needs keys; still well-formed attempt
		bytes.Repeat([]byte{0x9f}, 1000), // indefinite arrays
		append([]byte{0x5f}, bytes.Repeat([]byte{0x41}, 1000)...), // indefinite bstr chunks
		bytes.Repeat([]byte{0xc6}, 1000),                          // tags on tags
	)
	// A map with 340 small pairs (declared and present), and one declaring
	// 65535 pairs with few present.
	var pairs []byte
	for i := 0; i < 340; i++ {
		pairs = append(pairs, Int(int64(i))...)
		pairs = append(pairs, 0x00)
	}
	items = append(items, append(Head(5, 340), pairs...), append(Head(5, 0xffff), pairs[:200]...))
	// An array declaring 2^32-1 elements of which 1000 are present.
	items = append(items, append(Head(4, 0xffffffff), bytes.Repeat([]byte{0x00}, 1000)...))

	var out [][]byte
	for _, it := range items {
		out = append(out, it)
		// As the whole envelope, as the protected header, as the payload.
		out = append(out, append([]byte{0xd2}, it...))
		out = append(out, append([]byte{0xd2, 0x84}, it...))
		out = append(out, Sign1(it, nil, make([]byte, 64)))
		out = append(out, Sign1(Protected(AlgEdDSA, LicenseType, make([]byte, 8)), it, make([]byte, 64)))
		out = append(out, Armor("OAT LICENSE", append([]byte{0xd2, 0x84}, it...)))
	}
	return out
}
