package store

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
)

var cheapKDF = keys.KDFParams{Time: 1, Memory: 64, Threads: 1}

var pass = []byte("correct horse")

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// machineFiles is a physical rack server as a fake system root.
var machineFiles = map[string]string{
	"etc/hostname":                    "backup01\n",
	"etc/machine-id":                  "4c4c4544004a3510804bb4c04f4e3432\n",
	"sys/class/dmi/id/product_uuid":   "4c4c4544-004a-3510-804b-b4c04f4e3432\n",
	"sys/class/dmi/id/product_serial": "4J5KN42\n",
	"sys/class/dmi/id/board_serial":   "CN7475155B0123\n",
	"sys/class/dmi/id/sys_vendor":     "Dell Inc.\n",
	"sys/class/dmi/id/product_name":   "PowerEdge R740\n",
	"sys/class/dmi/id/chassis_type":   "23\n",
	"proc/cpuinfo":                    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\nphysical id\t: 0\n\n",
	"sys/class/net/eno1/address":      "b0:83:fe:11:22:33\n",
	"sys/class/net/eno2/address":      "b0:83:fe:11:22:34\n",
}

// otherHardware is what the same disk looks like in another machine (B4).
var otherHardware = map[string]string{
	"sys/class/dmi/id/product_uuid":   "4c4c4544-0000-1111-2222-333344445555\n",
	"sys/class/dmi/id/product_serial": "9ZZZZ99\n",
	"sys/class/dmi/id/board_serial":   "CN0000000X0000\n",
	"sys/class/net/eno1/address":      "b0:83:fe:aa:bb:01\n",
	"sys/class/net/eno2/address":      "b0:83:fe:aa:bb:02\n",
}

func writeRoot(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(rel, "sys/class/net/") {
			os.MkdirAll(filepath.Join(filepath.Dir(p), "device"), 0o755)
		}
	}
}

// fixture is one isolated server with its store, two co-installed products
// and a vendor.
type fixture struct {
	t        testing.TB
	dir      string
	root     string
	settings map[string]string
	vendor   ed25519.PrivateKey
	clock    time.Time
	opts     Options
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{t: t, dir: filepath.Join(base, "store"), root: filepath.Join(base, "root"), clock: t0,
		settings: map[string]string{"backup-server": filepath.Join(base, "backup"), "replica-server": filepath.Join(base, "replica")}}
	writeRoot(t, f.root, machineFiles)
	_, f.vendor, _ = ed25519.GenerateKey(rand.Reader)
	f.opts = Options{Root: f.root, TrialMarker: filepath.Join(f.root, "var/lib/oat/trial"), Now: func() time.Time { return f.clock }, KDF: cheapKDF}
	if err := Init(f.dir, []ed25519.PublicKey{f.vendor.Public().(ed25519.PublicKey)}, pass, f.opts); err != nil {
		t.Fatal(err)
	}
	for code, d := range f.settings {
		os.MkdirAll(d, 0o755)
		f.do(func(s *Store) error { _, err := s.AddProduct(code, d); return err })
	}
	return f
}

func (f *fixture) open() *Store {
	f.t.Helper()
	s, err := Open(f.dir, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) do(fn func(*Store) error) {
	f.t.Helper()
	s := f.open()
	defer s.Close()
	if err := fn(s); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) request() *request.Request {
	f.t.Helper()
	var r *request.Request
	out := filepath.Join(f.t.TempDir(), "req.oat")
	f.do(func(s *Store) (err error) {
		r, err = s.WriteRequest(out, RequestInfo{Order: "O-1", Fulfillment: "FN-1", Email: "admin@example.com"}, pass)
		return err
	})
	data, err := os.ReadFile(out)
	if err != nil {
		f.t.Fatal(err)
	}
	parsed, _, err := request.Parse(data)
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Equal(parsed.Nonce, r.Nonce) {
		f.t.Fatal("request file and returned request differ")
	}
	return parsed
}

// license answers r as the desk would; edit changes it before signing.
func (f *fixture) license(r *request.Request, seq uint64, first bool, edit func(*response.License)) []byte {
	f.t.Helper()
	l := response.License{
		Issuer: "test desk", Activation: "act-1", NotBefore: f.clock.Add(-time.Hour).Unix(), IssuedAt: f.clock.Unix(),
		ID: randBytes(16), Confirm: r.Confirm, Sequence: seq, Host: r.Host, Machine: r.Machine,
		Products: []response.Entitlement{
			{Code: "backup-server", Order: r.Order, Fulfillment: r.Fulfillment, Model: "server", Seats: 1},
			{Code: "replica-server", Order: r.Order, Fulfillment: r.Fulfillment, Model: "server", Seats: 1},
		},
	}
	if first {
		l.Nonce = r.Nonce
	}
	if edit != nil {
		edit(&l)
	}
	data, err := response.Seal(l, f.vendor)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (f *fixture) install(data []byte) (*Result, error) {
	s := f.open()
	defer s.Close()
	return s.Install(data)
}

// snapshot is every file under the store and the settings directories.
func (f *fixture) snapshot() map[string]string {
	f.t.Helper()
	out := map[string]string{}
	dirs := []string{f.dir}
	for _, d := range f.settings {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && e.Name() != LockFile {
				data, _ := os.ReadFile(p)
				out[p] = string(data)
			}
			return nil
		})
	}
	return out
}

func (f *fixture) assertUnchanged(before map[string]string) {
	f.t.Helper()
	after := f.snapshot()
	var diffs []string
	for p, v := range before {
		if w, ok := after[p]; !ok {
			diffs = append(diffs, "removed "+p)
		} else if w != v {
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		f.t.Errorf("store changed: %s", strings.Join(diffs, "; "))
	}
}

func (f *fixture) copy(code string) string {
	data, err := os.ReadFile(filepath.Join(f.settings[code], CopyFile))
	if err != nil {
		return ""
	}
	return string(data)
}

func (f *fixture) status() *Status {
	f.t.Helper()
	var st *Status
	f.do(func(s *Store) (err error) { st, err = s.Status(); return err })
	return st
}

func TestInitRefusesOverwrite(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	err := Init(f.dir, []ed25519.PublicKey{f.vendor.Public().(ed25519.PublicKey)}, pass, f.opts)
	if !errors.Is(err, ErrInitialized) {
		t.Fatalf("second init: %v", err)
	}
	f.assertUnchanged(before)
	fi, err := os.Stat(filepath.Join(f.dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("installation key mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(filepath.Join(f.dir, KeyFile))
	if priv, err := keys.DecryptPrivateKey(data, pass); err != nil {
		t.Errorf("key does not decrypt: %v", err)
	} else if pub, _ := keys.LoadPublicKey(filepath.Join(f.dir, PubFile)); !pub.Equal(priv.Public()) {
		t.Error("installation.pub is not the key's public half")
	}
	if _, err := Open(t.TempDir(), f.opts); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("open of an empty dir: %v", err)
	}
}

// TestInitAfterInterruptedInit: an init killed before state.json (its
// commit point) leaves key files but no store; running init again works.
func TestInitAfterInterruptedInit(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "store")
	os.MkdirAll(dir, 0o700)
	for _, name := range []string{KeyFile, PubFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left by a killed init"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(dir, f.opts); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("open of a half-made store: %v", err)
	}
	if err := Init(dir, []ed25519.PublicKey{f.vendor.Public().(ed25519.PublicKey)}, pass, f.opts); err != nil {
		t.Fatalf("init after an interrupted init: %v", err)
	}
	s, err := Open(dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if _, err := keys.DecryptPrivateKey(data, pass); err != nil {
		t.Errorf("the new installation key: %v", err)
	}
}

func TestFlow(t *testing.T) {
	f := newFixture(t)
	if st := f.status(); st.State != StateTrial || st.TrialDaysLeft != 30 {
		t.Fatalf("fresh store: %s, %d days", st.State, st.TrialDaysLeft)
	}
	r := f.request()
	if r.Email != "admin@example.com" || len(r.Products) != 2 || r.Host != "backup01" || r.Name != "" {
		t.Fatalf("request: %+v", r)
	}
	lic1 := f.license(r, 1, true, nil)
	res, err := f.install(lic1)
	if err != nil || res.NoOp || len(res.Copied) != 2 {
		t.Fatalf("install: %+v %v", res, err)
	}
	if f.copy("backup-server") == "" || f.copy("backup-server") != f.copy("replica-server") {
		t.Fatal("copies not written")
	}
	st := f.status()
	if st.State != StateActive || st.LicenseSeq != 1 || len(st.Products) != 2 || !st.CopiesInSync || st.PendingRequest != nil {
		t.Fatalf("status after install: %+v", st)
	}

	// The same file again is a no-op.
	before := f.snapshot()
	if res, err := f.install(lic1); err != nil || !res.NoOp {
		t.Fatalf("reinstall: %+v %v", res, err)
	}
	f.assertUnchanged(before)

	// An update supersedes it; the old one can never come back.
	lic2 := f.license(r, 2, false, func(l *response.License) {
		l.Products = append(l.Products, response.Entitlement{Code: "backup-virtual", Order: "O-2", Fulfillment: "FN-2", Model: "virtual", Seats: 1})
	})
	if res, err := f.install(lic2); err != nil || res.Replaced != 1 {
		t.Fatalf("update: %+v %v", res, err)
	}
	if got := f.status(); got.LicenseSeq != 2 || len(got.Products) != 3 {
		t.Fatalf("status after update: %+v", got)
	}
	before = f.snapshot()
	if _, err := f.install(lic1); !errors.Is(err, response.ErrNotPending) {
		t.Errorf("first license after update: %v", err)
	}
	f.assertUnchanged(before)
	entries, _ := filepath.Glob(filepath.Join(f.dir, "license-*.oat"))
	if len(entries) != 1 {
		t.Errorf("license files in the store: %v", entries)
	}

	// A product added later gets the copy at once (A10).
	late := filepath.Join(t.TempDir(), "late")
	os.MkdirAll(late, 0o755)
	f.do(func(s *Store) error {
		copied, err := s.AddProduct("backup-virtual", late)
		if !copied {
			t.Error("late product did not get a copy")
		}
		return err
	})

	// Deactivation: a receipt verifiable with installation.pub, no license left.
	out := filepath.Join(t.TempDir(), "release.oat")
	f.do(func(s *Store) error { _, err := s.Deactivate(out, "moving", pass); return err })
	data, _ := os.ReadFile(out)
	pub, _ := keys.LoadPublicKey(filepath.Join(f.dir, PubFile))
	rc, err := release.Parse(data, pub)
	if err != nil || rc.Activation != "act-1" || rc.Sequence != 2 || rc.Host != "backup01" || rc.Reason != "moving" {
		t.Fatalf("receipt: %+v %v", rc, err)
	}
	if f.copy("backup-server") != "" || f.copy("replica-server") != "" {
		t.Error("copies left after deactivation")
	}
	if _, err := os.Stat(filepath.Join(late, CopyFile)); err == nil {
		t.Error("late product's copy left after deactivation")
	}
	if st := f.status(); st.State != StateTrial || st.LicenseSeq != 0 || len(st.Products) != 0 {
		t.Errorf("status after deactivation: %+v", st)
	}
	f.do(func(s *Store) error {
		if _, err := s.Deactivate(out, "", pass); !errors.Is(err, ErrNoLicense) {
			t.Errorf("second deactivate: %v", err)
		}
		return nil
	})
	// The receipt is kept in the store: a lost file can be written again,
	// the very same receipt.
	os.Remove(out)
	f.do(func(s *Store) error {
		again, err := s.RewriteReceipt(out)
		if err != nil || !bytes.Equal(again.ID, rc.ID) {
			t.Errorf("rewrite receipt: %+v %v", again, err)
		}
		return nil
	})
	if rewritten, _ := os.ReadFile(out); !bytes.Equal(rewritten, data) {
		t.Error("the rewritten receipt differs from the first")
	}
	// The update can no longer be installed: nothing to update.
	if _, err := f.install(lic2); !errors.Is(err, response.ErrNotUpdate) {
		t.Errorf("update after deactivation: %v", err)
	}
}

// TestInstallRefusals: every way a license can be wrong is refused with its
// reason, and leaves the store and the product copies as they were (S1, S6).
func TestInstallRefusals(t *testing.T) {
	type setup struct {
		f       *fixture
		r       *request.Request
		current []byte // the installed license, seq 1
	}
	tests := []struct {
		name   string
		make   func(s setup) []byte
		before func(s setup) // runs after make, before install
		want   error
		text   string
	}{
		{name: "tampered", want: signing.ErrSignature, make: func(s setup) []byte {
			data := s.f.license(s.r, 2, false, nil)
			m, _ := signing.Parse(data)
			raw := bytes.Clone(m.Raw())
			i := bytes.Index(raw, []byte("test desk"))
			raw[i] = 'b'
			return signing.Armor(signing.License, raw)
		}},
		{name: "untrusted vendor", want: keys.ErrUntrusted, make: func(s setup) []byte {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			l := s.f.license(s.r, 2, false, nil)
			var claims response.License
			m, _ := signing.Parse(l)
			signing.UnmarshalClaims(m.Payload, &claims)
			data, _ := response.Seal(claims, other)
			return data
		}},
		{name: "other installation", want: response.ErrOtherInstallation, make: func(s setup) []byte {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return s.f.license(s.r, 2, false, func(l *response.License) { l.Confirm = signing.NewConfirmation(other.Public().(ed25519.PublicKey)) })
		}},
		{name: "other machine (cloned disk, B4)", want: response.ErrOtherMachine, text: "request again",
			make:   func(s setup) []byte { return s.f.license(s.r, 2, false, nil) },
			before: func(s setup) { writeRoot(s.f.t, s.f.root, otherHardware) }},
		{name: "replayed first license", want: response.ErrNotPending, make: func(s setup) []byte {
			return s.f.license(s.r, 1, true, func(l *response.License) { l.Activation = "act-2" })
		}},
		{name: "answer to a replaced request", want: response.ErrNotPending, make: func(s setup) []byte {
			s.f.request() // the admin ran oat request twice
			return s.f.license(s.r, 1, true, func(l *response.License) { l.Activation = "act-2" })
		}},
		{name: "old sequence (rollback)", want: response.ErrRollback, make: func(s setup) []byte {
			return s.f.license(s.r, 0, false, nil)
		}},
		{name: "same sequence, other file", want: response.ErrSameSequence, make: func(s setup) []byte {
			return s.f.license(s.r, 1, false, nil)
		}},
		{name: "update for another activation", want: response.ErrOtherActivation, make: func(s setup) []byte {
			return s.f.license(s.r, 5, false, func(l *response.License) { l.Activation = "act-9" })
		}},
		{name: "expired", want: response.ErrExpired, make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, func(l *response.License) { l.Expires = t0.Add(-time.Minute).Unix() })
		}},
		{name: "every subscription ended", want: response.ErrExpired, make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, func(l *response.License) {
				for i := range l.Products {
					l.Products[i].Expires = t0.Add(-24 * time.Hour).Unix()
				}
			})
		}},
		{name: "not yet valid", want: response.ErrNotYetValid, make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, func(l *response.License) { l.NotBefore = t0.Add(48 * time.Hour).Unix() })
		}},
		{name: "desktop license on a server", want: response.ErrModel, text: "Desktop", make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, func(l *response.License) { l.Products[0].Model = "desktop" })
		}},
		{name: "cloud license on premises (B16)", want: response.ErrModel, text: "Cloud", make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, func(l *response.License) { l.Products[0].Model = "cloud" })
		}},
		{name: "a request given to install", want: signing.ErrKind, make: func(s setup) []byte {
			data, _ := os.ReadFile(s.f.opts.Root + "/../req.oat")
			return data
		}},
		{name: "truncated", want: signing.ErrArmor, make: func(s setup) []byte {
			data := s.f.license(s.r, 2, false, nil)
			return data[:len(data)/2]
		}},
		{name: "truncated raw", want: signing.ErrMalformed, make: func(s setup) []byte {
			m, _ := signing.Parse(s.f.license(s.r, 2, false, nil))
			return m.Raw()[:len(m.Raw())-10]
		}},
		{name: "oversize", want: signing.ErrTooLarge, make: func(s setup) []byte {
			return bytes.Repeat([]byte("A"), signing.MaxFileSize+1)
		}},
		{name: "empty", want: signing.ErrMalformed, make: func(s setup) []byte { return nil }},
		{name: "unwritable settings dir", text: "replica-server", make: func(s setup) []byte {
			return s.f.license(s.r, 2, false, nil)
		}, before: func(s setup) {
			d := s.f.settings["replica-server"]
			os.Remove(filepath.Join(d, CopyFile))
			os.Remove(d)
			os.WriteFile(d, []byte("not a directory"), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			// Keep a request file around for the wrong-kind case.
			f.do(func(s *Store) error {
				_, err := s.WriteRequest(filepath.Join(f.root, "..", "req.oat"), RequestInfo{Order: "O-1", Fulfillment: "FN-1", Email: "a@example.com"}, pass)
				return err
			})
			r := pendingRequest(t, f)
			cur := f.license(r, 1, true, nil)
			if _, err := f.install(cur); err != nil {
				t.Fatal(err)
			}
			s := setup{f: f, r: r, current: cur}
			data := tt.make(s)
			if tt.before != nil {
				tt.before(s)
			}
			before := f.snapshot()
			_, err := f.install(data)
			if err == nil {
				t.Fatal("installed")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			f.assertUnchanged(before)
			f.do(func(s *Store) error {
				if s.Installed().Sequence != 1 {
					t.Errorf("installed sequence changed to %d", s.Installed().Sequence)
				}
				return nil
			})
		})
	}
}

// pendingRequest rebuilds the pending request's claims from the file the
// store wrote for it.
func pendingRequest(t *testing.T, f *fixture) *request.Request {
	t.Helper()
	s := f.open()
	p := s.Pending()
	s.Close()
	data, err := os.ReadFile(p.File)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := request.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInstallFileErrorsNameTheFile(t *testing.T) {
	f := newFixture(t)
	big := filepath.Join(t.TempDir(), "big.oat")
	os.WriteFile(big, bytes.Repeat([]byte("x"), signing.MaxFileSize+10), 0o644)
	missing := filepath.Join(t.TempDir(), "missing.oat")
	for _, p := range []string{big, missing} {
		s := f.open()
		_, err := s.InstallFile(p)
		s.Close()
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("InstallFile(%s): %v", p, err)
		}
	}
}

// crashAt is a store hook that fails, as a crash would, at the named point.
func crashAt(point string, crash error) func(string) error {
	return func(p string) error {
		if p == point {
			return crash
		}
		return nil
	}
}

// TestCrash stops an install at each point a crash could happen and checks
// that the store is the old one or the new one, and that the next command
// cleans up and `products sync` repairs the copies (S4).
func TestCrash(t *testing.T) {
	crash := errors.New("simulated crash")
	t.Run("before the commit", func(t *testing.T) {
		f := newFixture(t)
		r := f.request()
		before := f.snapshot()
		s := f.open()
		s.hook = crashAt("commit", crash)
		_, err := s.Install(f.license(r, 1, true, nil))
		s.Close()
		if !errors.Is(err, crash) {
			t.Fatalf("install: %v", err)
		}
		f.assertUnchanged(before)
		if st := f.status(); st.State != StateTrial || st.PendingRequest == nil {
			t.Errorf("after crash: %+v", st)
		}
	})
	t.Run("after the commit, before the copies", func(t *testing.T) {
		f := newFixture(t)
		r := f.request()
		s := f.open()
		s.hook = crashAt("copies", crash)
		_, err := s.Install(f.license(r, 1, true, nil))
		s.Close()
		if !errors.Is(err, crash) {
			t.Fatalf("install: %v", err)
		}
		st := f.status()
		if st.State != StateActive || st.CopiesInSync {
			t.Fatalf("after crash: state %s, copies in sync %v", st.State, st.CopiesInSync)
		}
		tmps, _ := filepath.Glob(filepath.Join(f.settings["backup-server"], ".*.tmp-*"))
		if len(tmps) != 1 {
			t.Fatalf("staged copies: %v", tmps)
		}
		f.do(func(s *Store) error {
			s.cleanup()
			copies, err := s.Sync()
			for _, c := range copies {
				if !c.InSync {
					t.Errorf("not repaired: %+v", c)
				}
			}
			return err
		})
		tmps, _ = filepath.Glob(filepath.Join(f.settings["backup-server"], ".*.tmp-*"))
		if len(tmps) != 0 {
			t.Errorf("temp files left: %v", tmps)
		}
	})
	t.Run("a temp file left by a torn write", func(t *testing.T) {
		f := newFixture(t)
		r := f.request()
		os.WriteFile(filepath.Join(f.dir, ".state.json.tmp-123"), []byte("{garbage"), 0o600)
		os.WriteFile(filepath.Join(f.dir, "license-deadbeef.oat"), []byte("orphan"), 0o600)
		if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{".state.json.tmp-123", "license-deadbeef.oat"} {
			if _, err := os.Stat(filepath.Join(f.dir, p)); err == nil {
				t.Errorf("%s not cleaned up", p)
			}
		}
	})
}

func TestTrial(t *testing.T) {
	f := newFixture(t)
	f.clock = t0.Add(10 * 24 * time.Hour)
	if st := f.status(); st.State != StateTrial || st.TrialDaysLeft != 20 {
		t.Fatalf("day 10: %s %d", st.State, st.TrialDaysLeft)
	}
	f.clock = t0.Add(31 * 24 * time.Hour)
	if st := f.status(); st.State != StateUnlicensed || st.TrialDaysLeft != 0 {
		t.Fatalf("day 31: %s %d", st.State, st.TrialDaysLeft)
	}
	// Deleting the store and starting again does not restart the trial:
	// the marker outside the store remembers the first use (A4).
	os.RemoveAll(f.dir)
	if err := Init(f.dir, []ed25519.PublicKey{f.vendor.Public().(ed25519.PublicKey)}, pass, f.opts); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.State != StateUnlicensed {
		t.Fatalf("re-initialized store: %s %d days", st.State, st.TrialDaysLeft)
	}
	// Activation still works after the trial ran out.
	f.do(func(s *Store) error { _, err := s.AddProduct("backup-server", f.settings["backup-server"]); return err })
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.State != StateActive {
		t.Fatalf("after activation: %s", st.State)
	}
}

func TestExpiryHighWater(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	end := t0.Add(60 * 24 * time.Hour)
	lic := f.license(r, 1, true, func(l *response.License) { l.Products[0].Expires = end.Unix(); l.Products[1].Expires = end.Unix() })
	if _, err := f.install(lic); err != nil {
		t.Fatal(err)
	}
	f.clock = end.Add(-10 * 24 * time.Hour)
	st := f.status()
	if st.State != StateActive || len(st.Warnings) == 0 || !strings.Contains(st.Warnings[0], "ends on") {
		t.Fatalf("10 days before: %s %v", st.State, st.Warnings)
	}
	f.clock = end.Add(time.Hour)
	if st := f.status(); st.State != StateExpired || st.Products[0].Active {
		t.Fatalf("after the end: %s", st.State)
	}
	// Setting the clock back does not bring the license back (S2).
	f.clock = t0
	if st := f.status(); st.State != StateExpired {
		t.Fatalf("clock set back: %s (now %s)", st.State, st.Now)
	}
}

func TestMachineChangedAfterInstall(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	writeRoot(t, f.root, otherHardware) // recovered onto new hardware (A26)
	st := f.status()
	if st.State != StateTrial || st.MachineMatches == nil || *st.MachineMatches {
		t.Fatalf("status: %s %v", st.State, st.MachineMatches)
	}
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "run oat request again") {
		t.Errorf("warnings do not tell the admin what to do: %v", st.Warnings)
	}
}

func TestRequestValidation(t *testing.T) {
	f := newFixture(t)
	ok := RequestInfo{Order: "O", Fulfillment: "F", Email: "a@example.com"}
	tests := []struct {
		name string
		edit func(*RequestInfo)
		want error
	}{
		{"no order", func(r *RequestInfo) { r.Order = " " }, ErrInvalid},
		{"no fulfillment", func(r *RequestInfo) { r.Fulfillment = "" }, ErrInvalid},
		{"no email", func(r *RequestInfo) { r.Email = "" }, ErrInvalid},
		{"bad email", func(r *RequestInfo) { r.Email = "admin at example.com" }, ErrInvalid},
		{"email with display name", func(r *RequestInfo) { r.Email = "Admin <a@example.com>" }, ErrInvalid},
		{"email without domain dot", func(r *RequestInfo) { r.Email = "a@localhost" }, ErrInvalid},
		{"newline in name", func(r *RequestInfo) { r.Name = "a\nb" }, ErrInvalid},
		{"unknown product", func(r *RequestInfo) { r.Products = []string{"backup-nope"} }, ErrUnknownProduct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := ok
			tt.edit(&info)
			before := f.snapshot()
			out := filepath.Join(t.TempDir(), "r.oat")
			s := f.open()
			_, err := s.WriteRequest(out, info, pass)
			s.Close()
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			f.assertUnchanged(before)
			if _, err := os.Stat(out); err == nil {
				t.Error("request file written")
			}
		})
	}
	t.Run("wrong passphrase", func(t *testing.T) {
		s := f.open()
		defer s.Close()
		_, err := s.WriteRequest(filepath.Join(t.TempDir(), "r.oat"), ok, []byte("wrong"))
		if !errors.Is(err, keys.ErrWrongPassphrase) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no products registered", func(t *testing.T) {
		g := newFixture(t)
		g.do(func(s *Store) error {
			for _, p := range s.Products() {
				s.RemoveProduct(p.Code)
			}
			_, err := s.WriteRequest(filepath.Join(t.TempDir(), "r.oat"), ok, pass)
			if !errors.Is(err, ErrNoProducts) {
				t.Errorf("got %v", err)
			}
			return nil
		})
	})
	t.Run("optional fields only when given (A3)", func(t *testing.T) {
		info := ok
		info.Name, info.Products = "Hanako", []string{"replica-server"}
		s := f.open()
		r, err := s.WriteRequest(filepath.Join(t.TempDir(), "r.oat"), info, pass)
		s.Close()
		if err != nil || r.Name != "Hanako" || r.Company != "" || len(r.Products) != 1 {
			t.Errorf("%+v %v", r, err)
		}
	})
}

func TestProducts(t *testing.T) {
	f := newFixture(t)
	s := f.open()
	defer s.Close()
	if _, err := s.AddProduct("backup-server", t.TempDir()); !errors.Is(err, ErrProductExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.AddProduct("Bad Code", t.TempDir()); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad code: %v", err)
	}
	if _, err := s.AddProduct("x", filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing dir: %v", err)
	}
	if err := s.RemoveProduct("nope"); !errors.Is(err, ErrUnknownProduct) {
		t.Errorf("remove unknown: %v", err)
	}
	// A copy where no license is installed is flagged and removed by sync.
	stray := filepath.Join(f.settings["backup-server"], CopyFile)
	os.WriteFile(stray, []byte("old"), 0o644)
	copies, err := s.Sync()
	if err != nil || !copies[0].InSync && !copies[1].InSync {
		t.Errorf("sync: %+v %v", copies, err)
	}
	if _, err := os.Stat(stray); err == nil {
		t.Error("stray copy kept")
	}
}

func TestTrustRotation(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	oldVendor := f.vendor
	_, newVendor, _ := ed25519.GenerateKey(rand.Reader)
	_, selfMade, _ := ed25519.GenerateKey(rand.Reader)
	statement := func(signer ed25519.PrivateKey, key ed25519.PrivateKey, remove bool) []byte {
		st, err := rotation.New(key.Public().(ed25519.PublicKey), remove, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		data, err := rotation.Seal(st, signer)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	apply := func(data []byte, remove bool) error {
		var err error
		f.do(func(s *Store) error { _, err = s.ApplyRotation(data, remove); return nil })
		return err
	}
	// An administrator's own key, vouching for itself: refused.
	if err := apply(statement(selfMade, selfMade, false), false); !errors.Is(err, keys.ErrUntrusted) {
		t.Fatalf("a self-signed statement: %v", err)
	}
	add := statement(oldVendor, newVendor, false)
	if err := apply(add, true); !errors.Is(err, rotation.ErrInvalid) {
		t.Fatalf("an add statement given as a removal: %v", err)
	}
	if err := apply(add, false); err != nil {
		t.Fatal(err)
	}
	if err := apply(add, false); !errors.Is(err, rotation.ErrApplied) {
		t.Fatalf("the same statement again: %v", err)
	}
	f.vendor = newVendor
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatalf("license from the new vendor key: %v", err)
	}
	// The new key retires the old one; the old key cannot come back, even
	// through a statement of a key still trusted.
	if err := apply(statement(newVendor, oldVendor, true), true); err != nil {
		t.Fatal(err)
	}
	if err := apply(statement(newVendor, oldVendor, false), false); !errors.Is(err, rotation.ErrRetired) {
		t.Fatalf("re-adding a retired key: %v", err)
	}
	if err := apply(statement(newVendor, newVendor, true), true); !errors.Is(err, rotation.ErrLastKey) {
		t.Fatalf("removing the last key: %v", err)
	}
	// The chain is verified each time the store is opened: a statement
	// edited into state.json breaks it.
	path := filepath.Join(f.dir, StateFile)
	data, _ := os.ReadFile(path)
	var raw map[string]any
	json.Unmarshal(data, &raw)
	raw["rotations"] = append(raw["rotations"].([]any), statement(selfMade, selfMade, false))
	data, _ = json.Marshal(raw)
	os.WriteFile(path, data, 0o600)
	if _, err := Open(f.dir, f.opts); err == nil || !strings.Contains(err.Error(), "vendor key chain does not verify") {
		t.Fatalf("an edited chain: %v", err)
	}
}

// TestConcurrent runs many changes on one store at once: the lock keeps
// every one of them (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := filepath.Join(f.dir, "..", fmt.Sprintf("p%d", i))
			os.MkdirAll(d, 0o755)
			s, err := Open(f.dir, f.opts)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if _, err := s.AddProduct(fmt.Sprintf("p%d", i), d); err != nil {
				errs <- err
			}
			if _, err := s.Status(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := f.open()
	defer s.Close()
	if n := len(s.Products()); n != 18 {
		t.Errorf("%d products registered, want 18", n)
	}
	if data, err := atomicfile.ReadCapped(filepath.Join(f.dir, StateFile), maxStateFile); err != nil || !bytes.Contains(data, []byte("p15")) {
		t.Errorf("state: %v", err)
	}
}
