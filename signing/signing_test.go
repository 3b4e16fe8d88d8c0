package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

type claims struct {
	Subject string `cbor:"2,keyasint"`
	N       int    `cbor:"n"`
}

func TestRoundTrip(t *testing.T) {
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	for _, kind := range []signing.Kind{signing.Request, signing.License, signing.Release} {
		file, err := signing.Seal(kind, priv, claims{Subject: "act-1", N: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(file, []byte("-----BEGIN "+kind.ArmorLabel()+"-----\n")) {
			t.Fatalf("%s: armor starts %q", kind, file[:30])
		}
		for _, l := range strings.Split(strings.TrimSpace(string(file)), "\n") {
			if len(l) > 64 && !strings.HasPrefix(l, "-----") {
				t.Fatalf("%s: armor line of %d columns", kind, len(l))
			}
		}
		var got claims
		m, err := signing.Open(file, kind, keys.NewTrustSet(pub), &got)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if got != (claims{"act-1", 7}) || m.Kind != kind || m.KeyID != keys.KeyID(pub) {
			t.Fatalf("%s: got %+v kind %s", kind, got, m.Kind)
		}
		// Raw CBOR is accepted as well as armor, and CRLF armor from Windows.
		if _, err := signing.Open(m.Raw(), kind, keys.NewTrustSet(pub), &got); err != nil {
			t.Fatalf("%s raw: %v", kind, err)
		}
		crlf := bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n"))
		if _, err := signing.Open(crlf, kind, keys.NewTrustSet(pub), &got); err != nil {
			t.Fatalf("%s CRLF: %v", kind, err)
		}
	}
}

func TestKindIsBound(t *testing.T) {
	priv := testKey(1)
	ts := keys.NewTrustSet(priv.Public().(ed25519.PublicKey))
	file, err := signing.Seal(signing.Request, priv, claims{})
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if _, err := signing.Open(file, signing.License, ts, &c); !errors.Is(err, signing.ErrKind) {
		t.Fatalf("request accepted as license: %v", err)
	}
	// Relabelling the armor does not change what was signed.
	relabelled := bytes.ReplaceAll(file, []byte("OAT REQUEST"), []byte("OAT LICENSE"))
	if _, err := signing.Parse(relabelled); !errors.Is(err, signing.ErrKind) {
		t.Fatalf("relabelled armor: %v", err)
	}
}

func TestWrongKeyRejected(t *testing.T) {
	file, err := signing.Seal(signing.License, testKey(1), claims{})
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(2).Public().(ed25519.PublicKey)
	var c claims
	if _, err := signing.Open(file, signing.License, keys.NewTrustSet(other), &c); !errors.Is(err, keys.ErrUntrusted) {
		t.Fatalf("untrusted key: %v", err)
	}
	m, err := signing.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(other); !errors.Is(err, signing.ErrSignature) {
		t.Fatalf("other key: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	oldFile, _ := signing.Seal(signing.License, oldKey, claims{N: 1})
	newFile, _ := signing.Seal(signing.License, newKey, claims{N: 2})
	ts := keys.NewTrustSet(oldKey.Public().(ed25519.PublicKey), newKey.Public().(ed25519.PublicKey))
	var c claims
	for _, f := range [][]byte{oldFile, newFile} {
		if _, err := signing.Open(f, signing.License, ts, &c); err != nil {
			t.Fatalf("rotation: %v", err)
		}
	}
	ts.Remove(keys.KeyID(oldKey.Public().(ed25519.PublicKey)))
	if _, err := signing.Open(oldFile, signing.License, ts, &c); !errors.Is(err, keys.ErrUntrusted) {
		t.Fatalf("removed key still trusted: %v", err)
	}
}

// Every single-byte change of a small signed file must be rejected.
func TestTamperEveryByte(t *testing.T) {
	priv := testKey(3)
	ts := keys.NewTrustSet(priv.Public().(ed25519.PublicKey))
	raw, err := signing.Sign(signing.Release, priv, []byte{0xa1, 0x02, 0x61, 0x78})
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, delta := range []byte{0x01, 0x80, 0xff} {
			mut := bytes.Clone(raw)
			mut[i] ^= delta
			m, err := signing.Parse(mut)
			if err == nil {
				err = m.VerifyTrusted(ts)
			}
			if err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, delta)
			}
		}
	}
}

func TestHardenedDecoding(t *testing.T) {
	priv := testKey(1)
	good, _ := signing.Sign(signing.License, priv, []byte{0xa0})
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, signing.ErrMalformed},
		{"untagged", good[1:], signing.ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), signing.ErrMalformed},
		{"truncated", good[:len(good)-1], signing.ErrMalformed},
		{"oversize", bytes.Repeat([]byte{' '}, signing.MaxFileSize+1), signing.ErrTooLarge},
		{"bad armor", []byte("-----BEGIN OAT LICENSE-----\n!!!!\n-----END OAT LICENSE-----\n"), signing.ErrArmor},
		{"armor without end", []byte("-----BEGIN OAT LICENSE-----\nAAAA\n"), signing.ErrArmor},
		{"foreign armor", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), signing.ErrArmor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := signing.Parse(tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClaimsStrict(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"duplicate key", []byte{0xa2, 0x02, 0x61, 0x61, 0x02, 0x61, 0x62}},
		{"unknown claim", []byte{0xa1, 0x63, 'z', 'z', 'z', 0x01}},
		{"indefinite map", []byte{0xbf, 0x02, 0x61, 0x61, 0xff}},
		{"trailing", []byte{0xa0, 0x00}},
		{"tag", []byte{0xc1, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c claims
			if err := signing.UnmarshalClaims(tt.payload, &c); !errors.Is(err, signing.ErrClaims) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
