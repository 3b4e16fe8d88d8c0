package release_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/signing"
)

// FuzzParse: no input panics; failures are classified; Peek and Parse agree
// on the claims whenever both accept; an accepted receipt is byte for byte
// one of the genuine receipts among the seeds and never verifies with
// another installation's key.
func FuzzParse(f *testing.F) {
	s, err := forge.NewSet()
	if err != nil {
		f.Fatal(err)
	}
	inst := forge.Public(s.Installation)
	all := append(s.Seeds(), forge.Files("../testdata/vectors", signing.MaxFileSize)...)
	all = append(all, forge.Hostile()...)
	valid := map[string]bool{}
	for _, seed := range all {
		f.Add(seed)
		if _, err := release.Parse(seed, inst); err == nil {
			m, _ := signing.Parse(seed)
			valid[string(m.Raw())] = true
		}
	}
	if len(valid) == 0 {
		f.Fatal("no valid receipt among the seeds")
	}
	other := forge.Public(forge.Key("another installation"))
	f.Fuzz(func(t *testing.T, data []byte) {
		peeked, perr := release.Peek(data)
		r, err := release.Parse(data, inst)
		for _, e := range []error{perr, err} {
			if e != nil && !errors.Is(e, signing.ErrTooLarge) && !errors.Is(e, signing.ErrMalformed) &&
				!errors.Is(e, signing.ErrAlgorithm) && !errors.Is(e, signing.ErrCritical) &&
				!errors.Is(e, signing.ErrKind) && !errors.Is(e, signing.ErrArmor) &&
				!errors.Is(e, signing.ErrClaims) && !errors.Is(e, signing.ErrSignature) {
				t.Fatalf("unclassified error: %v", e)
			}
		}
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("Parse accepts what Peek rejects: %v", perr)
		}
		a, _ := signing.MarshalClaims(r)
		b, _ := signing.MarshalClaims(peeked)
		if !bytes.Equal(a, b) {
			t.Fatal("Peek and Parse disagree on the claims")
		}
		m, _ := signing.Parse(data)
		if !valid[string(m.Raw())] {
			t.Fatalf("a mutated receipt verifies: %x", m.Raw())
		}
		if _, err := release.Parse(data, other); err == nil {
			t.Fatal("verified with another installation's key")
		}
	})
}

// FuzzClaims: whatever payload decodes as a Receipt re-encodes to a fixed
// point, and seals into a file that release.Parse reads back unchanged.
func FuzzClaims(f *testing.F) {
	seeds, err := forge.ClaimSeeds()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	key := forge.Key("fuzz installation")
	pub := forge.Public(key)
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, enc, ok, err := forge.DecodeStable[release.Receipt](payload)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if len(payload) > 8<<10 {
			return
		}
		file, err := release.Seal(r, key)
		if errors.Is(err, signing.ErrClaims) {
			return // refused at sealing as at parsing (a receipt needs lic)
		}
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		back, err := release.Parse(file, pub)
		if err != nil {
			t.Fatalf("a sealed receipt does not parse: %v", err)
		}
		if got, _ := signing.MarshalClaims(back); !bytes.Equal(got, enc) {
			t.Fatal("claims change through Seal and Parse")
		}
	})
}
