package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// needOpenSSL returns the openssl binary, skipping the test where it is
// missing, except in CI, where a missing openssl is a failure.
func needOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required in CI")
		}
		t.Skip("openssl not installed")
	}
	return path
}

func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// TestOpenSSLVerifiesOurFiles checks every kind of oat file with OpenSSL:
// the .pub file is read by `openssl pkey`, its key ID is recomputed from
// OpenSSL's DER output, and the Ed25519 signature verifies with
// `openssl pkeyutl -verify -rawin` over a Sig_structure built here by hand
// from the file's parts. A one-byte change must make OpenSSL fail.
func TestOpenSSLVerifiesOurFiles(t *testing.T) {
	openssl := needOpenSSL(t)
	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		name string
		data []byte
		pub  []byte // PEM
	}
	files := []file{
		{"request", s.Request, keys.MarshalPublicKey(forge.Public(s.Installation))},
		{"license", s.License, keys.MarshalPublicKey(forge.Public(s.Vendor))},
		{"receipt", s.Receipt, keys.MarshalPublicKey(forge.Public(s.Installation))},
	}
	// The committed test vectors too, with the .pub files next to them.
	for _, v := range []struct{ file, pub string }{
		{"request.oat", "installation.pub"}, {"license.oat", "vendor.pub"}, {"release.oat", "installation.pub"},
	} {
		data, err1 := os.ReadFile(filepath.Join("../testdata/vectors", v.file))
		pub, err2 := os.ReadFile(filepath.Join("../testdata/vectors", v.pub))
		if err1 == nil && err2 == nil {
			files = append(files, file{"testdata/vectors/" + v.file, data, pub})
		}
	}
	dir := t.TempDir()
	for i, f := range files {
		pubPath := filepath.Join(dir, "key.pub")
		if err := os.WriteFile(pubPath, f.pub, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, openssl, "pkey", "-pubin", "-in", pubPath, "-noout", "-text"); err != nil || !strings.Contains(string(out), "ED25519") {
			t.Fatalf("%s: openssl cannot read the .pub: %v\n%s", f.name, err, out)
		}
		der, err := run(t, openssl, "pkey", "-pubin", "-in", pubPath, "-outform", "DER")
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		sum := sha256.Sum256(der)

		_, raw, err := forge.Dearmor(f.data)
		if err != nil {
			raw = f.data // raw CBOR
		}
		p, err := forge.Split(raw)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		// The kid in the header is the one OpenSSL's DER gives.
		m, err := signing.Parse(f.data)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if !bytes.Equal(m.KeyID[:], sum[:keys.IDSize]) {
			t.Errorf("%s: kid %s, but sha256 of OpenSSL's DER starts %x", f.name, m.KeyID, sum[:keys.IDSize])
		}

		tbs := forge.SigStructure(p.Protected, p.Payload)
		tbsPath := filepath.Join(dir, "tbs.bin")
		sigPath := filepath.Join(dir, "sig.bin")
		if err := os.WriteFile(tbsPath, tbs, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigPath, p.Signature, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", tbsPath, "-sigfile", sigPath)
		if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
			t.Errorf("%s: OpenSSL does not verify: %v\n%s", f.name, err, out)
		}
		bad := bytes.Clone(tbs)
		bad[len(bad)-1-i] ^= 1
		if err := os.WriteFile(tbsPath, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", tbsPath, "-sigfile", sigPath); err == nil {
			t.Errorf("%s: OpenSSL verified an altered Sig_structure\n%s", f.name, out)
		}
	}
	t.Logf("%d files verified by %s", len(files), openssl)
}

// TestOpenSSLSignsWeVerify goes the other way: a key generated and a
// license signed by OpenSSL, over a Sig_structure and envelope built by
// hand, is accepted by response.Parse with the trust file OpenSSL wrote.
func TestOpenSSLSignsWeVerify(t *testing.T) {
	openssl := needOpenSSL(t)
	dir := t.TempDir()
	keyPath, pubPath := filepath.Join(dir, "vendor.pem"), filepath.Join(dir, "vendor.pub")
	if out, err := run(t, openssl, "genpkey", "-algorithm", "ed25519", "-out", keyPath); err != nil {
		t.Fatalf("genpkey: %v\n%s", err, out)
	}
	if out, err := run(t, openssl, "pkey", "-in", keyPath, "-pubout", "-out", pubPath); err != nil {
		t.Fatalf("pubout: %v\n%s", err, out)
	}
	der, err := run(t, openssl, "pkey", "-pubin", "-in", pubPath, "-outform", "DER")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)

	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := signing.MarshalClaims(s.LicenseClaims)
	if err != nil {
		t.Fatal(err)
	}
	prot := forge.Protected(forge.AlgEdDSA, forge.LicenseType, sum[:keys.IDSize])
	tbsPath, sigPath := filepath.Join(dir, "tbs.bin"), filepath.Join(dir, "sig.bin")
	if err := os.WriteFile(tbsPath, forge.SigStructure(prot, payload), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, openssl, "pkeyutl", "-sign", "-inkey", keyPath, "-rawin", "-in", tbsPath, "-out", sigPath); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil || len(sig) != ed25519.SignatureSize {
		t.Fatalf("signature: %d bytes, %v", len(sig), err)
	}
	file := forge.Armor("OAT LICENSE", forge.Sign1(prot, payload, sig))

	trust, err := keys.LoadTrustSet(pubPath)
	if err != nil {
		t.Fatalf("our loader rejects OpenSSL's .pub: %v", err)
	}
	l, err := response.Parse(file, trust)
	if err != nil {
		t.Fatalf("a license signed by OpenSSL does not verify: %v", err)
	}
	if got, _ := signing.MarshalClaims(l); !bytes.Equal(got, payload) {
		t.Error("claims differ")
	}
	if _, err := response.Parse(file, keys.NewTrustSet(forge.Public(s.Vendor))); err == nil {
		t.Error("verified with a key OpenSSL did not sign with")
	}
}
