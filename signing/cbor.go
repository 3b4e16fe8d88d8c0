package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Limits applied to every CBOR item decoded from an untrusted file. They are
// far above what any oat file needs and far below what could hurt.
const (
	MaxNesting       = 8
	MaxArrayElements = 1024
	MaxMapPairs      = 256
)

// Both modes are built once; they are immutable and safe for concurrent use.
var (
	encMode   = mustEncMode()
	decMode   = mustDecMode()
	canonMode = mustCanonMode()
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

// mustCanonMode decodes any item generically, keeping every integer as it
// was written, so that re-encoding it shows whether it was deterministic.
func mustCanonMode() cbor.DecMode {
	o := decOptions()
	o.IntDec = cbor.IntDecConvertNone
	o.ExtraReturnErrors = cbor.ExtraDecErrorNone
	m, err := o.DecMode()
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
// deterministic encoding (sorted map keys, shortest integer, length and
// float forms, definite lengths), under the hardened decoding rules.
func Deterministic(data []byte) error {
	var v any
	if err := canonMode.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w (%s)", ErrNotDeterministic, describe(err))
	}
	again, err := encMode.Marshal(v)
	if err != nil || !bytes.Equal(again, data) {
		return ErrNotDeterministic
	}
	return nil
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
