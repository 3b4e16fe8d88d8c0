package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Limits applied to every CBOR item decoded from an untrusted file. They are
// far above what any oat file needs and far below what could hurt.
const (
	MaxNesting       = 8
	MaxArrayElements = 1024
	MaxMapPairs      = 256
)

// The modes are built once; they are immutable and safe for concurrent use.
var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDecMode() cbor.DecMode {
	m, err := decOptions().DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// decOptions are the hardened rules for every untrusted item. Claim names
// are matched exactly: "Seq" is not "seq" (the spec says so, and a decoder
// that folds case accepts claims no producer wrote).
func decOptions() cbor.DecOptions {
	return cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertSignedOrFail,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}
}

// ErrNotDeterministic means an item is not the deterministic encoding of
// itself (RFC 8949 §4.2.1): another spelling of the same data, which a
// signature over bytes must not let through.
var ErrNotDeterministic = errors.New("not in deterministic CBOR encoding")

// Deterministic returns nil if data is one CBOR item that is exactly its own
// deterministic encoding (RFC 8949 §4.2.1: map keys unique and in bytewise
// order of their encodings, shortest integer and length forms, definite
// lengths), under the hardened decoding rules (no tags, valid UTF-8, the
// nesting and size limits). oat files hold no floating-point values, so
// a float is refused too.
//
// It walks the bytes once instead of decoding and encoding again: a
// product checks its license at every start, and this check ran longer
// than the signature verification it guards.
func Deterministic(data []byte) error {
	n, err := detItem(data, 0)
	if errors.Is(err, errSpelling) {
		return ErrNotDeterministic // well formed, but another spelling
	}
	if err != nil {
		return fmt.Errorf("%w (%s)", ErrNotDeterministic, err)
	}
	if n != len(data) {
		return fmt.Errorf("%w (trailing bytes after the data)", ErrNotDeterministic)
	}
	return nil
}

var (
	errTruncated = errors.New("data ends too early (truncated)")
	// errSpelling is a well-formed item written another way than the
	// deterministic one.
	errSpelling = errors.New("not the deterministic spelling")
)

// detHead reads the head of the item at p: its major type, its argument
// and the head's length, refusing any but the shortest form.
func detHead(p []byte) (major byte, arg uint64, n int, err error) {
	if len(p) == 0 {
		return 0, 0, 0, errTruncated
	}
	major, ai := p[0]>>5, p[0]&0x1f
	size := 0
	switch {
	case ai < 24:
		return major, uint64(ai), 1, nil
	case ai == 24:
		size = 1
	case ai == 25:
		size = 2
	case ai == 26:
		size = 4
	case ai == 27:
		size = 8
	case ai == 31:
		return 0, 0, 0, errors.New("indefinite-length item")
	default:
		return 0, 0, 0, errors.New("reserved additional information")
	}
	if major == 7 && size > 1 {
		return 0, 0, 0, errors.New("floating-point value")
	}
	if len(p) < 1+size {
		return 0, 0, 0, errTruncated
	}
	for _, b := range p[1 : 1+size] {
		arg = arg<<8 | uint64(b)
	}
	var min uint64 = 24 // the smallest argument that needs this form
	switch size {
	case 2:
		min = 1 << 8
	case 4:
		min = 1 << 16
	case 8:
		min = 1 << 32
	}
	if major == 7 {
		min = 32 // simple values 24..31 in two bytes are not well formed
	}
	if arg < min {
		return 0, 0, 0, errSpelling
	}
	return major, arg, 1 + size, nil
}

// detItem checks the item at the start of p, nested in depth containers,
// and returns its length.
func detItem(p []byte, depth int) (int, error) {
	major, arg, n, err := detHead(p)
	if err != nil {
		return 0, err
	}
	switch major {
	case 0, 1: // integers
		if major == 1 && arg > math.MaxInt64 {
			// Below -2^63: no oat claim can hold it, and decoders read it
			// as a big integer, which cannot even be a map key.
			return 0, errors.New("integer out of range")
		}
		return n, nil
	case 7: // simple values: false, true, null and the unassigned ones
		if arg == 23 {
			return 0, errSpelling // undefined: decoders read it as null
		}
		return n, nil
	case 2, 3: // byte and text strings
		if arg > uint64(len(p)-n) {
			return 0, errTruncated
		}
		end := n + int(arg)
		if major == 3 && !utf8.Valid(p[n:end]) {
			return 0, errors.New("invalid UTF-8 text string")
		}
		return end, nil
	case 6:
		return 0, errors.New("unexpected CBOR tag")
	}
	if depth+1 > MaxNesting {
		return 0, fmt.Errorf("data nested too deep (more than %d levels)", MaxNesting)
	}
	if major == 4 {
		if arg > MaxArrayElements {
			return 0, fmt.Errorf("data too long (an array of more than %d elements)", MaxArrayElements)
		}
		for range arg {
			m, err := detItem(p[n:], depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	}
	if arg > MaxMapPairs {
		return 0, fmt.Errorf("data too long (a map of more than %d pairs)", MaxMapPairs)
	}
	var prev []byte
	for i := range arg {
		if len(p) > n && (p[n]>>5 == 4 || p[n]>>5 == 5) {
			return 0, errors.New("an array or a map as a map key")
		}
		k, err := detItem(p[n:], depth+1)
		if err != nil {
			return 0, err
		}
		key := p[n : n+k]
		if i > 0 {
			switch c := bytes.Compare(prev, key); {
			case c == 0:
				return 0, errors.New("a key appears twice in a map")
			case c > 0:
				return 0, errSpelling
			}
		}
		prev = key
		n += k
		v, err := detItem(p[n:], depth+1)
		if err != nil {
			return 0, err
		}
		n += v
	}
	return n, nil
}

// ErrClaims means a payload is not a valid claims map for its kind.
var ErrClaims = errors.New("invalid claims")

// MarshalClaims encodes v in deterministic CBOR (RFC 8949 §4.2.1).
func MarshalClaims(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// UnmarshalClaims decodes a payload into v under the hardened decoding rules:
// duplicate keys, unknown claims, indefinite lengths, tags, trailing bytes
// and over-deep or over-long items are all rejected.
func UnmarshalClaims(payload []byte, v any) error {
	if err := decMode.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %v", ErrClaims, describe(err))
	}
	return nil
}

// describe turns a cbor error into words for an admin, keeping the detail.
func describe(err error) string {
	var dup *cbor.DupMapKeyError
	var unknown *cbor.UnknownFieldError
	var extra *cbor.ExtraneousDataError
	var maxNest *cbor.MaxNestedLevelError
	var maxArr *cbor.MaxArrayElementsError
	var maxMap *cbor.MaxMapPairsError
	var indef *cbor.IndefiniteLengthError
	var tag *cbor.TagsMdError
	switch {
	case errors.As(err, &dup):
		return "a key appears twice in a map (" + err.Error() + ")"
	case errors.As(err, &unknown):
		return "unknown field (" + err.Error() + ")"
	case errors.As(err, &extra):
		return "trailing bytes after the data (" + err.Error() + ")"
	case errors.As(err, &maxNest), errors.As(err, &maxArr), errors.As(err, &maxMap):
		return "data nested too deep or too long (" + err.Error() + ")"
	case errors.As(err, &indef):
		return "indefinite-length item (" + err.Error() + ")"
	case errors.As(err, &tag):
		return "unexpected CBOR tag (" + err.Error() + ")"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "data ends too early (truncated)"
	}
	return err.Error()
}
