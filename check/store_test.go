package check_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/store"
)

// writeRoot lays out a fake system root for machine.Collect.
func writeRoot(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(rel, "sys/class/net/") {
			os.MkdirAll(filepath.Join(filepath.Dir(p), "device"), 0o755)
		}
	}
}

// TestInstalledByStore runs the server's side for real, with package store
// as `oat init`, `oat install` and `oat deactivate` do: the copy it makes
// checks licensed; after deactivation the product is not licensed, and is
// back in the trial `oat init` started.
func TestInstalledByStore(t *testing.T) {
	base := t.TempDir()
	root, dir, settings := filepath.Join(base, "root"), filepath.Join(base, "store"), filepath.Join(base, "backup")
	writeRoot(t, root, map[string]string{
		"etc/hostname":                    "backup01\n",
		"etc/machine-id":                  "4c4c4544004a3510804bb4c04f4e3432\n",
		"sys/class/dmi/id/product_uuid":   "4c4c4544-004a-3510-804b-b4c04f4e3432\n",
		"sys/class/dmi/id/product_serial": "4J5KN42\n",
		"sys/class/net/eno1/address":      "b0:83:fe:11:22:33\n",
	})
	os.Mkdir(settings, 0o755)
	clock := t0
	opts := store.Options{Root: root, TrialMarker: filepath.Join(root, "var/lib/oat/trial"), Now: func() time.Time { return clock },
		KDF: keys.KDFParams{Time: 1, Memory: 64, Threads: 1}}
	pub, vendor, _ := ed25519.GenerateKey(rand.Reader)
	pass := []byte("correct horse")
	if err := store.Init(dir, []ed25519.PublicKey{pub}, pass, opts); err != nil {
		t.Fatal(err)
	}
	do := func(fn func(*store.Store) error) {
		t.Helper()
		s, err := store.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := fn(s); err != nil {
			t.Fatal(err)
		}
	}
	do(func(s *store.Store) error { _, err := s.AddProduct("backup-server", settings); return err })
	do(func(s *store.Store) error {
		r, err := s.WriteRequest(filepath.Join(base, "req.oat"), store.RequestInfo{Order: "O-1", Fulfillment: "FN-1", Email: "it@example.com"}, pass)
		if err != nil {
			return err
		}
		lic, err := response.Seal(response.License{Issuer: "desk", Activation: "act-1", NotBefore: t0.Unix(), IssuedAt: t0.Unix(),
			ID: []byte("0123456789abcdef"), Confirm: r.Confirm, Sequence: 1, Nonce: r.Nonce, Host: r.Host, Machine: r.Machine,
			Products: []response.Entitlement{{Code: "backup-server", Order: "O-1", Fulfillment: "FN-1", Model: "server", Seats: 1}}}, vendor)
		if err != nil {
			return err
		}
		_, err = s.Install(lic)
		return err
	})
	clock = t0.Add(24 * time.Hour)
	opt := &check.Options{Machine: check.MachineAt(root), TrialMarker: opts.TrialMarker, Now: func() time.Time { return clock }}
	v, err := check.Check(settings, "backup-server", []ed25519.PublicKey{pub}, opt)
	if err != nil || v.State != check.Licensed {
		t.Fatalf("installed: %v %+v", err, v)
	}
	// oat status judges each product by the same rules: on other hardware
	// both say the product may not run, and why.
	writeRoot(t, root, map[string]string{
		"sys/class/dmi/id/product_uuid":   "4c4c4544-0000-1111-2222-333344445555\n",
		"sys/class/dmi/id/product_serial": "9ZZZZ99\n",
		"sys/class/net/eno1/address":      "b0:83:fe:aa:bb:01\n",
	})
	v, err = check.Check(settings, "backup-server", []ed25519.PublicKey{pub}, opt)
	var st *store.Status
	do(func(s *store.Store) (err error) { st, err = s.Status(); return err })
	if p := st.Products[0]; !errors.Is(err, check.ErrOtherMachine) || p.Licensed || p.State != string(v.State) || p.Reason != v.Reason {
		t.Fatalf("status %+v, check %v %+v", p, err, v)
	}

	do(func(s *store.Store) error {
		_, err := s.Deactivate(filepath.Join(base, "release.oat"), "", pass)
		return err
	})
	v, err = check.Check(settings, "backup-server", []ed25519.PublicKey{pub}, opt)
	if !errors.Is(err, check.ErrNoLicense) || v.State != check.Trial || v.TrialDaysLeft != 29 {
		t.Fatalf("after deactivate: %v %+v", err, v)
	}
}
