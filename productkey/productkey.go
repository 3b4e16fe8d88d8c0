// Package productkey makes and checks offline product keys: short signed
// texts that unlock a product on a machine without any activation round
// trip (rule A22). The license desk generates them with the vendor key; the
// machine that registers one needs no network and verifies it against the
// vendor trust set, exactly like a license file.
//
// A product key is a binary record signed with Ed25519, followed by a
// CRC-32C checksum, written in Crockford base32 in groups of five
// characters:
//
//	0AR8N-3Q9ZT-...-KX4T2
//
// Crockford's alphabet has no I, L, O or U, so a reader accepts i, l and o
// as 1, 1 and 0, accepts lower case, and ignores dashes and white space.
// The checksum lets a typo be reported as a typo ("mistyped") rather than
// as a forgery; security rests on the signature alone.
//
// Why not an armored COSE_Sign1 like the other oat files: a key must fit in
// a product's registration field and be read out over a telephone. A COSE
// header alone (content type and key ID) is longer than every field of a
// key together. The signature is domain-separated from COSE's
// Sig_structure by a fixed prefix (see Context), so a vendor signature over
// a product key can never be taken for one over a license and vice versa.
//
// What a product key cannot do: it is not bound to a machine, so it cannot
// stop the same key being registered on more machines than were bought.
// That is why the seed documents keep activation for the products that
// count machines and use keys only where the vendor accepts this; the desk
// records every key it hands out, by serial, against the order.
package productkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

// Version is the first byte of every key of this format.
const Version = 1

// Context prefixes the bytes a product key's signature covers. A COSE
// Sig_structure starts with the CBOR array header 0x84, this with 'o', so
// the two can never be the same message.
const Context = "oat product key v1\x00"

// GuestKeysPerHost is how many guest keys one per-virtual-host license of
// the replication product carries (A22).
const GuestKeysPerHost = 100

// AgentsPerHost is how many agent licenses one per-host agent license
// includes (A27).
const AgentsPerHost = 50

// Limits of the fields.
const (
	MaxProductLen = 32
	headerLen     = 1 + keys.IDSize + SerialSize + 2 + 2 + 2 + 2 + 2 + 1
	trailerLen    = ed25519.SignatureSize + 4
	maxBytes      = headerLen + MaxProductLen + trailerLen
	maxChars      = (maxBytes*8 + 4) / 5
	// MaxLen is the longest key in characters, dashes included.
	MaxLen = maxChars + (maxChars-1)/5
)

// SerialSize is the length in bytes of a key's serial number.
const SerialSize = 8

// Serial identifies one product key at the desk.
type Serial [SerialSize]byte

func (s Serial) String() string { return hex.EncodeToString(s[:]) }

// Key is what a product key says. Times are whole UTC days.
type Key struct {
	Product string    // product code, e.g. "replica-virtual"
	Serial  Serial    // unique per key; the desk records it against the order
	Issued  time.Time // day the desk made it
	Expires time.Time // the last day it is valid, through 23:59:59 UTC; zero = perpetual (B1)
	Seat    uint16    // which license of the order, from 1
	Guest   uint16    // 0, or which guest key of a per-host license, 1..GuestKeysPerHost
	Agents  uint16    // agent licenses included (A27), 0 if none
}

// Sentinel errors callers and tests branch on.
var (
	// ErrMistyped means the text is not a product key as typed: a character
	// outside the alphabet, a wrong length or a checksum that does not match.
	ErrMistyped = errors.New("product key is mistyped")
	// ErrFormat means the checksum matches but the content is not a valid
	// key of this version: made by something else, or by a newer oat.
	ErrFormat = errors.New("not a valid product key")
	// ErrExpired means the key's subscription has ended.
	ErrExpired = errors.New("product key has expired")
	// ErrProduct means the key is for another product.
	ErrProduct = errors.New("product key is for another product")
)

// alphabet is Crockford's base32.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var enc = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func toDays(t time.Time) (uint16, error) {
	if t.IsZero() {
		return 0, nil
	}
	d := t.Unix() / 86400
	if t.Unix() < 0 || d == 0 || d > 0xffff {
		return 0, fmt.Errorf("date %s is outside 1970-01-02..2149-06-06", t.UTC().Format(time.DateOnly))
	}
	return uint16(d), nil
}

func fromDays(d uint16) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d)*86400, 0).UTC()
}

// NewSerial returns a random serial.
func NewSerial() Serial {
	var s Serial
	rand.Read(s[:])
	return s
}

func validProduct(code string) error {
	if code == "" || len(code) > MaxProductLen {
		return fmt.Errorf("product code must be 1 to %d characters", MaxProductLen)
	}
	for _, c := range []byte(code) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("product code %q may hold only a-z, 0-9 and -", code)
		}
	}
	return nil
}

func (k *Key) validate() error {
	if err := validProduct(k.Product); err != nil {
		return err
	}
	if k.Seat == 0 {
		return errors.New("seat must be 1 or more")
	}
	if k.Guest > GuestKeysPerHost {
		return fmt.Errorf("guest key %d is beyond the %d of a host license", k.Guest, GuestKeysPerHost)
	}
	if k.Issued.IsZero() {
		return errors.New("issue date is missing")
	}
	if !k.Expires.IsZero() && k.Expires.Before(k.Issued) {
		return errors.New("expiry must not be before the issue date")
	}
	return nil
}

// Generate signs k with the vendor key and returns the key as text. Dates
// are truncated to whole UTC days (a key is valid through the end of its
// expiry day, UTC); an all-zero serial is replaced with a random one.
func Generate(vendor ed25519.PrivateKey, k Key) (string, error) {
	if k.Serial == (Serial{}) {
		k.Serial = NewSerial()
	}
	issued, err := toDays(k.Issued)
	if err != nil {
		return "", fmt.Errorf("product key: issue %w", err)
	}
	expires, err := toDays(k.Expires)
	if err != nil {
		return "", fmt.Errorf("product key: expiry %w", err)
	}
	k.Issued, k.Expires = fromDays(issued), fromDays(expires)
	if err := k.validate(); err != nil {
		return "", fmt.Errorf("product key: %w", err)
	}
	id := keys.KeyID(vendor.Public().(ed25519.PublicKey))
	b := make([]byte, 0, headerLen+len(k.Product)+trailerLen)
	b = append(b, Version)
	b = append(b, id[:]...)
	b = append(b, k.Serial[:]...)
	b = binary.BigEndian.AppendUint16(b, issued)
	b = binary.BigEndian.AppendUint16(b, expires)
	b = binary.BigEndian.AppendUint16(b, k.Seat)
	b = binary.BigEndian.AppendUint16(b, k.Guest)
	b = binary.BigEndian.AppendUint16(b, k.Agents)
	b = append(b, byte(len(k.Product)))
	b = append(b, k.Product...)
	b = append(b, ed25519.Sign(vendor, append([]byte(Context), b...))...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return group(enc.EncodeToString(b)), nil
}

func group(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i += 5 {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i:min(i+5, len(s))])
	}
	return out.String()
}

// Token is a decoded, not yet verified, product key.
type Token struct {
	Key   Key
	KeyID keys.ID // the vendor key that signed it

	signed    []byte // the bytes the signature covers, without Context
	signature []byte
}

// normalize returns the key's characters as a reader sees them: upper case,
// i/l/o read as 1/1/0, dashes and white space dropped.
func normalize(text string) (string, error) {
	var out strings.Builder
	pos := 0
	for _, r := range text {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\r' || r == '\n':
			continue
		}
		pos++
		c := r
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if c > 0x7f || !strings.ContainsRune(alphabet, c) {
			return "", fmt.Errorf("%w: character %q at position %d is not used in product keys", ErrMistyped, r, pos)
		}
		out.WriteRune(c)
	}
	return out.String(), nil
}

// Parse decodes a product key as typed or pasted, checking its checksum and
// form but not its signature; use Verify for that.
func Parse(text string) (*Token, error) {
	if len(text) > 4*MaxLen {
		return nil, fmt.Errorf("%w: %d characters is far longer than a product key", ErrMistyped, len(text))
	}
	s, err := normalize(text)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fmt.Errorf("%w: it is empty", ErrMistyped)
	}
	b, err := enc.DecodeString(s)
	// Only one spelling per key: the unused low bits of the last character
	// must be zero, which re-encoding checks.
	if err != nil || enc.EncodeToString(b) != s {
		return nil, fmt.Errorf("%w: %d characters cannot be a product key (a character missing or extra?)", ErrMistyped, len(s))
	}
	if len(b) < headerLen+1+trailerLen {
		return nil, fmt.Errorf("%w: it is too short (%d characters)", ErrMistyped, len(s))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: the checksum does not match; compare each group of five with the original", ErrMistyped)
	}
	if body[0] != Version {
		return nil, fmt.Errorf("%w: version %d, this oat reads version %d", ErrFormat, body[0], Version)
	}
	signed, sig := body[:len(body)-ed25519.SignatureSize], body[len(body)-ed25519.SignatureSize:]
	t := &Token{signed: signed, signature: sig}
	r := signed[1:]
	copy(t.KeyID[:], r)
	r = r[keys.IDSize:]
	copy(t.Key.Serial[:], r)
	r = r[SerialSize:]
	u16 := func() uint16 { v := binary.BigEndian.Uint16(r); r = r[2:]; return v }
	issued, expires := u16(), u16()
	t.Key.Seat, t.Key.Guest, t.Key.Agents = u16(), u16(), u16()
	n := int(r[0])
	r = r[1:]
	if n != len(r) {
		return nil, fmt.Errorf("%w: product code length %d does not fit the key", ErrFormat, n)
	}
	t.Key.Product = string(r)
	t.Key.Issued, t.Key.Expires = fromDays(issued), fromDays(expires)
	if err := t.Key.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return t, nil
}

// Verify checks the signature with the trusted vendor key the token names.
func (t *Token) Verify(vendors *keys.TrustSet) error {
	pub, err := vendors.Lookup(t.KeyID)
	if err != nil {
		return fmt.Errorf("product key signed by key %s: %w", t.KeyID, err)
	}
	if !ed25519.Verify(pub, append([]byte(Context), t.signed...), t.signature) {
		return fmt.Errorf("product key: %w", signing.ErrSignature)
	}
	return nil
}

// Verify parses a product key and verifies its signature with the vendor
// trust set. It does not look at the product or the date; Check does.
func Verify(text string, vendors *keys.TrustSet) (*Key, error) {
	t, err := Parse(text)
	if err != nil {
		return nil, err
	}
	if err := t.Verify(vendors); err != nil {
		return nil, err
	}
	return &t.Key, nil
}

// Check says whether a verified key unlocks product at time now.
func (k *Key) Check(product string, now time.Time) error {
	if k.Product != product {
		return fmt.Errorf("%w: it is for %s, not %s", ErrProduct, k.Product, product)
	}
	if !k.Expires.IsZero() && !now.Before(k.Expires.AddDate(0, 0, 1)) {
		return fmt.Errorf("%w: it was valid until %s; renew the subscription at the license desk",
			ErrExpired, k.Expires.Format(time.DateOnly))
	}
	return nil
}

// Equal reports whether two key texts are the same key, however typed.
func Equal(a, b string) bool {
	na, erra := normalize(a)
	nb, errb := normalize(b)
	return erra == nil && errb == nil && na == nb
}

// HostKeys generates the GuestKeysPerHost guest keys of one per-virtual-host
// license (A22): the same product, seat and dates, guests 1..100, each with
// its own serial.
func HostKeys(vendor ed25519.PrivateKey, base Key) ([]string, error) {
	out := make([]string, 0, GuestKeysPerHost)
	for g := uint16(1); g <= GuestKeysPerHost; g++ {
		k := base
		k.Guest = g
		k.Serial = NewSerial()
		s, err := Generate(vendor, k)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
