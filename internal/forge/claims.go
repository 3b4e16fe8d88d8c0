package forge

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/oat-toolkit/oat/signing"
)

// ClaimSeeds is the seed corpus of the claims fuzz targets: the payloads of
// the genuine files of every kind, and the hostile inputs.
func ClaimSeeds() ([][]byte, error) {
	s, err := NewSet()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, seed := range s.Seeds() {
		if m, err := signing.Parse(seed); err == nil {
			out = append(out, m.Payload)
		}
	}
	return append(out, Hostile()...), nil
}

// DecodeStable decodes payload as claims of type T under the strict rules.
// A payload that does not decode must fail with signing.ErrClaims; one that
// does must re-encode to a fixed point. It returns the claims and their
// encoding, ok=false for a properly refused payload, or an error describing
// the broken property.
func DecodeStable[T any](payload []byte) (v T, enc []byte, ok bool, err error) {
	if err := signing.UnmarshalClaims(payload, &v); err != nil {
		if !errors.Is(err, signing.ErrClaims) {
			return v, nil, false, fmt.Errorf("unclassified error: %w", err)
		}
		return v, nil, false, nil
	}
	if enc, err = signing.MarshalClaims(v); err != nil {
		return v, nil, false, fmt.Errorf("decoded claims do not encode: %w", err)
	}
	var again T
	if err := signing.UnmarshalClaims(enc, &again); err != nil {
		return v, nil, false, fmt.Errorf("re-encoded claims do not decode: %w", err)
	}
	if enc2, _ := signing.MarshalClaims(again); !bytes.Equal(enc, enc2) {
		return v, nil, false, errors.New("encoding is not a fixed point")
	}
	return v, enc, true, nil
}
