package response_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// trusted is the vendor trust set of the fuzz targets: the forged vendor
// key and, when the test vectors are there, the vectors' vendor key.
func trusted() *keys.TrustSet {
	t := keys.NewTrustSet(forge.Public(forge.Key("vendor")))
	if v, err := keys.LoadPublicKey("../testdata/vectors/vendor.pub"); err == nil {
		t.Add(v)
	}
	return t
}

// FuzzParse: no input panics; failures are classified; an accepted license
// verifies with a trusted key, holds a usable cnf key, and is byte for byte
// one of the genuine licenses among the seeds.
func FuzzParse(f *testing.F) {
	s, err := forge.NewSet()
	if err != nil {
		f.Fatal(err)
	}
	trust := trusted()
	all := append(s.Seeds(), forge.Files("../testdata/vectors", signing.MaxFileSize)...)
	all = append(all, forge.Hostile()...)
	valid := map[string]bool{}
	for _, seed := range all {
		f.Add(seed)
		if _, err := response.Parse(seed, trust); err == nil {
			m, _ := signing.Parse(seed)
			valid[string(m.Raw())] = true
		}
	}
	if len(valid) == 0 {
		f.Fatal("no valid license among the seeds")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := response.Parse(data, trust)
		if err != nil {
			if l != nil {
				t.Fatal("license returned with an error")
			}
			if !errors.Is(err, signing.ErrTooLarge) && !errors.Is(err, signing.ErrMalformed) &&
				!errors.Is(err, signing.ErrAlgorithm) && !errors.Is(err, signing.ErrCritical) &&
				!errors.Is(err, signing.ErrKind) && !errors.Is(err, signing.ErrArmor) &&
				!errors.Is(err, signing.ErrClaims) && !errors.Is(err, signing.ErrConfirmation) &&
				!errors.Is(err, signing.ErrSignature) && !errors.Is(err, keys.ErrUntrusted) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if _, err := l.Confirm.PublicKey(); err != nil {
			t.Fatalf("accepted license has no usable cnf key: %v", err)
		}
		m, err := signing.Parse(data)
		if err != nil || m.VerifyTrusted(trust) != nil {
			t.Fatalf("response.Parse accepted what signing rejects: %v", err)
		}
		if !valid[string(m.Raw())] {
			t.Fatalf("a mutated license verifies: %x", m.Raw())
		}
		if _, err := response.Parse(data, keys.NewTrustSet(forge.Public(forge.Key("stranger")))); err == nil {
			t.Fatal("verified with an untrusted key")
		}
	})
}

// FuzzClaims: whatever payload decodes as a License re-encodes to a fixed
// point, and seals into a file that response.Parse reads back unchanged.
func FuzzClaims(f *testing.F) {
	seeds, err := forge.ClaimSeeds()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	vendor := forge.Key("fuzz vendor")
	trust := keys.NewTrustSet(forge.Public(vendor))
	f.Fuzz(func(t *testing.T, payload []byte) {
		l, enc, ok, err := forge.DecodeStable[response.License](payload)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if _, err := l.Confirm.PublicKey(); err != nil || len(payload) > 8<<10 {
			return
		}
		file, err := response.Seal(l, vendor)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		back, err := response.Parse(file, trust)
		if err != nil {
			t.Fatalf("a sealed license does not parse: %v", err)
		}
		if got, _ := signing.MarshalClaims(back); !bytes.Equal(got, enc) {
			t.Fatal("claims change through Seal and Parse")
		}
	})
}
