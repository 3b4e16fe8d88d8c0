package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/keys"
)

var cheap = keys.KDFParams{Time: 1, Memory: 64, Threads: 1}

func TestPrivateKeyRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	file, err := keys.EncryptPrivateKey(priv, []byte("correct horse"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, priv.Seed()) {
		t.Fatal("seed in clear in the key file")
	}
	got, err := keys.DecryptPrivateKey(file, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Fatal("decrypted key differs")
	}
	if _, err := keys.DecryptPrivateKey(file, []byte("wrong")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := keys.DecryptPrivateKey(file, nil); !errors.Is(err, keys.ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase: %v", err)
	}
}

func TestPrivateKeyHeadersBound(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	file, _ := keys.EncryptPrivateKey(priv, []byte("pw"), cheap)
	tests := []struct{ old, new string }{
		{"t=1,m=64,p=1", "t=1,m=128,p=1"},      // altered parameters fail the AEAD
		{"t=1,m=64,p=1", "t=1,m=99999999,p=1"}, // absurd memory is refused before use
		{"argon2id", "scrypt"},                 // unknown KDF
		{"xchacha20poly1305", "aes-gcm"},       // unknown cipher
	}
	for _, tt := range tests {
		mut := strings.Replace(string(file), tt.old, tt.new, 1)
		if _, err := keys.DecryptPrivateKey([]byte(mut), []byte("pw")); err == nil {
			t.Errorf("%s -> %s accepted", tt.old, tt.new)
		}
	}
}

func TestGenerateFiles(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "vendor")
	pub, err := keys.GenerateFiles(prefix, []byte("pw"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode().Perm())
	}
	got, err := keys.LoadPublicKey(prefix + ".pub")
	if err != nil || !got.Equal(pub) {
		t.Fatalf("public key: %v", err)
	}
	priv, err := keys.LoadPrivateKey(prefix+".key", []byte("pw"))
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("private key: %v", err)
	}
	if _, err := keys.GenerateFiles(prefix, []byte("pw"), cheap); err == nil {
		t.Fatal("overwrote an existing key")
	}
	again, _ := keys.LoadPublicKey(prefix + ".pub")
	if !again.Equal(pub) {
		t.Fatal("public key changed by the refused generate")
	}
}

func TestKeyIDIsSHA256OfSPKI(t *testing.T) {
	for i := range 20 {
		pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i)}, 32)).Public().(ed25519.PublicKey)
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		if id := keys.KeyID(pub); !bytes.Equal(id[:], sum[:keys.IDSize]) {
			t.Fatalf("key %d: ID %s is not sha256(SPKI)[:8] %x", i, id, sum[:keys.IDSize])
		}
	}
	// RFC 8032 test 1 public key; the ID is sha256(SPKI DER)[:8], as the doc
	// comment's openssl pipeline computes it.
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0}, 32)).Public().(ed25519.PublicKey)
	id := keys.KeyID(pub)
	if len(id.String()) != 16 {
		t.Fatalf("id %s", id)
	}
	pem := keys.MarshalPublicKey(pub)
	parsed, err := keys.ParsePublicKey(pem)
	if err != nil || keys.KeyID(parsed) != id {
		t.Fatalf("reparse: %v", err)
	}
}

func TestParsePublicKeysRejects(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	good := keys.MarshalPublicKey(pub)
	tests := map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("hello"),
		"trailing junk": append(bytes.Clone(good), []byte("junk")...),
		"private label": bytes.ReplaceAll(good, []byte("PUBLIC KEY"), []byte("PRIVATE KEY")),
		"truncated":     good[:len(good)-20],
		"oversize":      bytes.Repeat(good, 1000),
	}
	for name, data := range tests {
		if _, err := keys.ParsePublicKeys(data); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	two := append(bytes.Clone(good), keys.MarshalPublicKey(pub)...)
	if ks, err := keys.ParsePublicKeys(two); err != nil || len(ks) != 2 {
		t.Fatalf("two keys: %v", err)
	}
}
