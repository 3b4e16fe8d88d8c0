package request_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/signing"
)

// seeds adds the genuine files, wrong-kind signings, the test vectors and
// the hostile inputs to f, and returns the raw bytes of every seed that
// request.Parse accepts: the only valid requests that exist.
func seeds(f *testing.F) map[string]bool {
	s, err := forge.NewSet()
	if err != nil {
		f.Fatal(err)
	}
	all := append(s.Seeds(), forge.Files("../testdata/vectors", signing.MaxFileSize)...)
	all = append(all, forge.Hostile()...)
	valid := map[string]bool{}
	for _, seed := range all {
		f.Add(seed)
		if _, _, err := request.Parse(seed); err == nil {
			m, _ := signing.Parse(seed)
			valid[string(m.Raw())] = true
		}
	}
	if len(valid) == 0 {
		f.Fatal("no valid request among the seeds")
	}
	return valid
}

// FuzzParse: no input panics; failures are classified; an accepted request
// is self-signed by the key in its cnf claim, carries a nonce of the right
// size, and is byte for byte one of the genuine requests, since nothing but
// the installation key can make another.
func FuzzParse(f *testing.F) {
	valid := seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, pub, err := request.Parse(data)
		if err != nil {
			if r != nil || pub != nil {
				t.Fatal("results returned with an error")
			}
			if !errors.Is(err, signing.ErrTooLarge) && !errors.Is(err, signing.ErrMalformed) &&
				!errors.Is(err, signing.ErrAlgorithm) && !errors.Is(err, signing.ErrCritical) &&
				!errors.Is(err, signing.ErrKind) && !errors.Is(err, signing.ErrArmor) &&
				!errors.Is(err, signing.ErrClaims) && !errors.Is(err, signing.ErrConfirmation) &&
				!errors.Is(err, request.ErrNotSelfSigned) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if !r.SameInstallation(pub) || len(r.Nonce) != request.NonceSize {
			t.Fatal("accepted request does not hold its own key and nonce")
		}
		m, err := signing.Parse(data)
		if err != nil || m.KeyID != keys.KeyID(pub) || m.Verify(pub) != nil {
			t.Fatalf("request.Parse accepted what signing rejects: %v", err)
		}
		if !valid[string(m.Raw())] {
			t.Fatalf("a mutated request verifies: %x", m.Raw())
		}
	})
}

// FuzzClaims: whatever payload decodes as a Request re-encodes to a fixed
// point, and seals into a file that request.Parse reads back unchanged.
func FuzzClaims(f *testing.F) {
	seeds, err := forge.ClaimSeeds()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	key := forge.Key("fuzz installation")
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, _, ok, err := forge.DecodeStable[request.Request](payload)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if len(r.Nonce) != request.NonceSize || len(payload) > 8<<10 {
			return
		}
		file, err := request.Seal(r, key)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		back, pub, err := request.Parse(file)
		if err != nil {
			t.Fatalf("a sealed request does not parse: %v", err)
		}
		if !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
			t.Fatal("parsed key is not the sealing key")
		}
		r.Confirm = back.Confirm
		want, _ := signing.MarshalClaims(r)
		if got, _ := signing.MarshalClaims(back); !bytes.Equal(got, want) {
			t.Fatal("claims change through Seal and Parse")
		}
	})
}
