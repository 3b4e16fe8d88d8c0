package tamper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/signing"
)

// goClass names a rejection by the error classes of doc/format.md §3.
func goClass(err error) string {
	for _, c := range []struct {
		name string
		errs []error
	}{
		{"too-large", []error{signing.ErrTooLarge}},
		{"armor", []error{signing.ErrArmor}},
		{"algorithm", []error{signing.ErrAlgorithm}},
		{"critical", []error{signing.ErrCritical}},
		{"kind", []error{signing.ErrKind}},
		{"malformed", []error{signing.ErrMalformed}},
		{"signature", []error{signing.ErrSignature, keys.ErrUntrusted, request.ErrNotSelfSigned}},
		{"claims", []error{signing.ErrClaims, signing.ErrConfirmation}},
	} {
		for _, e := range c.errs {
			if errors.Is(err, e) {
				return c.name
			}
		}
	}
	return "unclassified"
}

// python is Debian's python3 when it has the second verifier's modules.
func python(t *testing.T) string {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import cbor2, cryptography").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the second verifier needs python3-cbor2 and python3-cryptography (.ci/run installs them): %v", err)
		}
		t.Skipf("python3-cbor2 or python3-cryptography missing: %v", err)
	}
	return py
}

// TestSecondVerifier runs interop/oatverify.py, written from doc/format.md
// alone, over every test vector and over a sample of the tamper matrix
// with the Go verdict of each variant: the two must agree on every file,
// on valid or invalid and on the error class.
func TestSecondVerifier(t *testing.T) {
	py := python(t)
	run := func(dir string) {
		t.Helper()
		out, err := exec.Command(py, "../interop/oatverify.py", dir).CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Errorf("the second verifier disagrees (%v)", err)
		}
	}
	run("../testdata/vectors")

	s, ks := kinds(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vendor.pub"), keys.MarshalPublicKey(forge.Public(s.Vendor)), 0o644)
	os.WriteFile(filepath.Join(dir, "installation.pub"), keys.MarshalPublicKey(forge.Public(s.Installation)), 0o644)
	type entry struct {
		File   string `json:"file"`
		Kind   string `json:"kind"`
		Key    string `json:"key,omitempty"`
		Expect string `json:"expect"`
		Error  string `json:"error,omitempty"`
		What   string `json:"why"`
	}
	var manifest []entry
	for _, k := range ks {
		_, raw, err := forge.Dearmor(k.file)
		if err != nil {
			t.Fatal(err)
		}
		parts, _ := forge.Split(raw)
		key := map[string]string{"license": "vendor.pub", "rotation": "vendor.pub", "release": "installation.pub",
			"checkin": "installation.pub", "ack": "vendor.pub"}[k.name]
		// Every variant of the small groups, and a spread of the
		// bit flips and truncations (every 37th).
		var sample []variant
		for _, g := range [][]variant{bitFlips(raw), bitFlips(k.file), truncations(raw), truncations(k.file)} {
			for i := 0; i < len(g); i += 37 {
				sample = append(sample, g[i])
			}
		}
		sample = append(sample, variant{"genuine", k.file})
		sample = append(sample, appended(k, raw, s)...)
		sample = append(sample, wrongKeys(k, parts, s)...)
		sample = append(sample, kindSwaps(k, ks, parts)...)
		sample = append(sample, keyIDChanges(k, parts, s)...)
		sample = append(sample, headerChanges(k, parts, raw)...)
		sample = append(sample, respellings(k, parts)...)
		for i, v := range sample {
			e := entry{File: fmt.Sprintf("%s-%04d.oat", k.name, i), Kind: k.name, Key: key, Expect: "valid", What: v.what}
			if err := k.verify(v.data); err != nil {
				e.Expect, e.Error = "invalid", goClass(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.File), v.data, 0o644); err != nil {
				t.Fatal(err)
			}
			manifest = append(manifest, e)
		}
	}
	data, _ := json.MarshalIndent(manifest, "", " ")
	os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
	t.Logf("%d tamper variants sampled", len(manifest))
	run(dir)
	if os.Getenv("OAT_KEEP_SAMPLE") != "" {
		os.CopyFS(os.Getenv("OAT_KEEP_SAMPLE"), os.DirFS(dir))
	}
}
