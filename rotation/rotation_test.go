package rotation_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
)

func key(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func stmt(t testing.TB, signer, subject ed25519.PrivateKey, remove bool) []byte {
	st, err := rotation.New(pub(subject), remove, time.Unix(1797000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	data, err := rotation.Seal(st, signer)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestChain is the chain of trust, rule by rule: every statement verifies
// against the set before it, from the roots given at init.
func TestChain(t *testing.T) {
	root, next, third, admin := key(t), key(t), key(t), key(t)
	addNext := stmt(t, root, next, false)
	tests := []struct {
		name  string
		chain [][]byte
		want  error // nil: the chain verifies
		trust []ed25519.PrivateKey
	}{
		{"roots only", nil, nil, []ed25519.PrivateKey{root}},
		{"root adds next", [][]byte{addNext}, nil, []ed25519.PrivateKey{root, next}},
		{"next, once trusted, adds third", [][]byte{addNext, stmt(t, next, third, false)}, nil, []ed25519.PrivateKey{root, next, third}},
		{"next retires root", [][]byte{addNext, stmt(t, next, root, true)}, nil, []ed25519.PrivateKey{next}},
		{"an admin's key vouching for itself", [][]byte{stmt(t, admin, admin, false)}, keys.ErrUntrusted, nil},
		{"next adds third before it is trusted", [][]byte{stmt(t, next, third, false), addNext}, keys.ErrUntrusted, nil},
		{"a retired key signs", [][]byte{addNext, stmt(t, next, root, true), stmt(t, root, third, false)}, keys.ErrUntrusted, nil},
		{"a retired key re-added", [][]byte{addNext, stmt(t, next, root, true), stmt(t, next, root, false)}, rotation.ErrRetired, nil},
		{"the same statement twice", [][]byte{addNext, addNext}, rotation.ErrApplied, nil},
		{"a trusted key added again", [][]byte{addNext, stmt(t, root, next, false)}, rotation.ErrAlreadyTrusted, nil},
		{"removing an untrusted key", [][]byte{stmt(t, root, admin, true)}, rotation.ErrNotTrusted, nil},
		{"removing the last key", [][]byte{stmt(t, root, root, true)}, rotation.ErrLastKey, nil},
		{"a license offered as a statement", [][]byte{mustSeal(t, root)}, signing.ErrKind, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := rotation.Trust([]ed25519.PublicKey{pub(root)}, tt.chain)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ts.IDs()) != len(tt.trust) {
				t.Errorf("trusts %v, want %d keys", ts.IDs(), len(tt.trust))
			}
			for _, k := range tt.trust {
				if _, err := ts.Lookup(keys.KeyID(pub(k))); err != nil {
					t.Errorf("key %s not trusted", keys.KeyID(pub(k)))
				}
			}
		})
	}
}

func mustSeal(t *testing.T, k ed25519.PrivateKey) []byte {
	data, err := signing.Seal(signing.License, k, map[string]int{"seq": 1})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzParse: no input panics; every failure is a sentinel of package
// signing; whatever parses is a valid statement.
func FuzzParse(f *testing.F) {
	k := key(f)
	f.Add(stmt(f, k, key(f), false))
	f.Add(stmt(f, k, key(f), true))
	f.Add([]byte("-----BEGIN OAT ROTATION-----\n-----END OAT ROTATION-----\n"))
	sentinels := []error{signing.ErrTooLarge, signing.ErrMalformed, signing.ErrAlgorithm, signing.ErrCritical,
		signing.ErrKind, signing.ErrSignature, signing.ErrArmor, signing.ErrClaims}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := rotation.Parse(data)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("unclassified error %v", err)
		}
		if len(st.ID) != rotation.IDSize || (st.Add == nil) == (st.Remove == nil) {
			t.Fatalf("accepted an invalid statement %+v", st)
		}
	})
}
