package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
)

// FuzzParsePublicKeys: no input panics; every key read is a 32-byte
// Ed25519 key whose key ID can be taken, and the set re-marshals to a file
// that parses to the same keys.
func FuzzParsePublicKeys(f *testing.F) {
	a, b := forge.Public(forge.Key("vendor")), forge.Public(forge.Key("installation"))
	f.Add(keys.MarshalPublicKey(a))
	f.Add(append(keys.MarshalPublicKey(a), keys.MarshalPublicKey(b)...))
	f.Add(keys.NewTrustSet(a, b).Marshal())
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"))
	for _, seed := range forge.Files("../testdata/vectors", keys.MaxPublicKeyFile) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pubs, err := keys.ParsePublicKeys(data)
		if err != nil {
			if pubs != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		var again []byte
		for _, p := range pubs {
			if len(p) != ed25519.PublicKeySize {
				t.Fatalf("a %d-byte key", len(p))
			}
			_ = keys.KeyID(p) // panics on a malformed key
			again = append(again, keys.MarshalPublicKey(p)...)
		}
		back, err := keys.ParsePublicKeys(again)
		if err != nil || len(back) != len(pubs) {
			t.Fatalf("re-marshaled keys do not parse: %v", err)
		}
		for i := range back {
			if !bytes.Equal(back[i], pubs[i]) {
				t.Fatal("keys change through marshal and parse")
			}
		}
		ts, err := keys.ParseTrustSet(data)
		if err != nil {
			t.Fatalf("ParseTrustSet rejects what ParsePublicKeys accepts: %v", err)
		}
		for _, p := range pubs {
			if k, err := ts.Lookup(keys.KeyID(p)); err != nil || !bytes.Equal(k, p) {
				t.Fatal("trust set lost a key")
			}
		}
	})
}

// fuzzKDF is the KDF of the fuzz seeds: fast enough for many executions.
var fuzzKDF = keys.KDFParams{Time: 1, Memory: 64, Threads: 1}

// costly reports whether a key file asks for more KDF work than a fuzz
// execution should do. It reads the parameters the way the decoder does;
// files it cannot read are rejected by the decoder before any KDF work.
func costly(data []byte) bool {
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	parts := strings.Split(block.Headers["Kdf-Params"], ",")
	if len(parts) != 3 {
		return false
	}
	for i, name := range []string{"t=", "m=", "p="} {
		v, _ := strings.CutPrefix(parts[i], name)
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return false
		}
		if (i == 0 && n > 2) || (i == 1 && n > 1024) || (i == 2 && n > 4) {
			return true
		}
	}
	return false
}

// FuzzDecryptPrivateKey: no input panics; a file that decrypts yields
// exactly the key that was sealed (the AEAD and its header binding leave
// no room for a mutated file to give another key), and a decrypted key
// re-encrypts to a file that decrypts to the same key.
func FuzzDecryptPrivateKey(f *testing.F) {
	sealed := map[string]bool{}
	for _, name := range []string{"vendor", "installation"} {
		k := forge.Key(name)
		sealed[string(k)] = true
		file, err := keys.EncryptPrivateKey(k, []byte("correct horse"), fuzzKDF)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file, []byte("correct horse"))
		f.Add(file, []byte("wrong horse"))
		f.Add(bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n")), []byte("correct horse"))
	}
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		if costly(data) {
			return
		}
		priv, err := keys.DecryptPrivateKey(data, pass)
		if err != nil {
			if priv != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		if !sealed[string(priv)] {
			t.Fatal("a mutated key file decrypts to a key that was never sealed")
		}
		again, err := keys.EncryptPrivateKey(priv, pass, fuzzKDF)
		if err != nil {
			t.Fatal(err)
		}
		back, err := keys.DecryptPrivateKey(again, pass)
		if err != nil || !bytes.Equal(back, priv) {
			t.Fatalf("re-encrypted key does not round-trip: %v", err)
		}
	})
}
