//go:build unix

package store

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO in place of a product's license copy must not hang status, list
// or sync while they hold the store lock.
func TestCopyFIFODoesNotHang(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(f.settings["backup-server"], CopyFile)
	os.Remove(copyPath)
	if err := syscall.Mkfifo(copyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan []Copy, 1)
	go func() {
		s := f.open()
		defer s.Close()
		s.Status()
		after, _ := s.Sync()
		done <- after
	}()
	select {
	case after := <-done:
		// Sync replaced the FIFO with the license (rename replaces the
		// directory entry, it does not open the FIFO).
		for _, c := range after {
			if !c.InSync {
				t.Errorf("after sync: %+v", c)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("status/sync blocked on a FIFO in place of the license copy")
	}
}

// A settings directory swapped for a symbolic link after products add is
// neither written through (install) nor removed through (deactivate).
func TestSettingsDirSwappedForSymlink(t *testing.T) {
	f := newFixture(t)
	victim := filepath.Join(t.TempDir(), "etc")
	os.Mkdir(victim, 0o755)
	planted := filepath.Join(victim, CopyFile)
	os.WriteFile(planted, []byte("root's file"), 0o644)

	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	dir := f.settings["backup-server"]
	os.RemoveAll(dir)
	if err := os.Symlink(victim, dir); err != nil {
		t.Fatal(err)
	}
	// An update is refused as a whole (nothing changes), rather than
	// written through the link.
	if _, err := f.install(f.license(r, 2, false, nil)); !errors.Is(err, ErrUnsafeSettingsDir) {
		t.Fatalf("install through a symlinked settings directory: %v", err)
	}
	if data, _ := os.ReadFile(planted); string(data) != "root's file" {
		t.Fatalf("the file behind the link was replaced")
	}
	// Sync does not write through it either.
	s := f.open()
	_, err := s.Sync()
	s.Close()
	if !errors.Is(err, ErrUnsafeSettingsDir) {
		t.Errorf("sync through a symlinked settings directory: %v", err)
	}
	if data, _ := os.ReadFile(planted); string(data) != "root's file" {
		t.Fatalf("sync replaced the file behind the link")
	}
	// Deactivate refuses, and the file behind the link stays.
	s = f.open()
	_, err = s.Deactivate(filepath.Join(t.TempDir(), "r.rel"), "", pass)
	s.Close()
	if !errors.Is(err, ErrUnsafeSettingsDir) {
		t.Fatalf("deactivate through a symlink: %v", err)
	}
	if _, err := os.Stat(planted); err != nil {
		t.Fatal("deactivate removed the file behind the link")
	}
}

func TestAddProductRefusesUnsafeDirs(t *testing.T) {
	f := newFixture(t)
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	under := filepath.Join(open, "settings")
	os.Mkdir(under, 0o755)
	os.Chmod(open, 0o777) // anyone could rename settings away and plant a link
	world := filepath.Join(base, "world")
	os.Mkdir(world, 0o755)
	os.Chmod(world, 0o777)
	for _, tc := range []struct{ code, dir, want string }{
		{"linked", link, "is a symbolic link"},
		{"under-open", under, "which other users may write to"},
		{"world", world, "writable by every user"},
	} {
		s := f.open()
		_, err := s.AddProduct(tc.code, tc.dir)
		s.Close()
		if !errors.Is(err, ErrUnsafeSettingsDir) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.code, err, tc.want)
		}
	}
	// The sticky bit (as on /tmp) is fine.
	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	os.Mkdir(filepath.Join(sticky, "settings"), 0o755)
	f.do(func(s *Store) error { _, err := s.AddProduct("sticky", filepath.Join(sticky, "settings")); return err })
}

// oat init tightens an existing loose directory and refuses a lock file
// planted as a symbolic link.
func TestInitTightensAndRefusesLockLink(t *testing.T) {
	base := t.TempDir()
	_, vendor, _ := ed25519.GenerateKey(nil)
	vendors := []ed25519.PublicKey{vendor.Public().(ed25519.PublicKey)}
	opts := Options{Root: base, KDF: cheapKDF}

	loose := filepath.Join(base, "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o777)
	if err := Init(loose, vendors, pass, opts); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(loose); st.Mode().Perm() != 0o700 {
		t.Errorf("store mode %o after init, want 700", st.Mode().Perm())
	}

	planted := filepath.Join(base, "planted")
	os.Mkdir(planted, 0o700)
	target := filepath.Join(base, "elsewhere")
	os.Symlink(target, filepath.Join(planted, LockFile))
	err := Init(planted, vendors, pass, opts)
	if !errors.Is(err, errLockIsLink) {
		t.Errorf("init with a planted lock link: %v", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("init created the file the planted lock link points to")
	}
}

// The store's license is 0600; each product's copy is 0640 with the
// settings directory's group; requests and receipts are 0600.
func TestFileModes(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	lics, _ := filepath.Glob(filepath.Join(f.dir, "license-*.oat"))
	for _, p := range lics {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 600", p, st.Mode().Perm())
		}
	}
	for _, d := range f.settings {
		st, err := os.Stat(filepath.Join(d, CopyFile))
		if err != nil || st.Mode().Perm() != CopyMode {
			t.Errorf("copy in %s: %v, mode %o, want %o", d, err, st.Mode().Perm(), CopyMode)
			continue
		}
		dst, _ := os.Stat(d)
		if st.Sys().(*syscall.Stat_t).Gid != dst.Sys().(*syscall.Stat_t).Gid {
			t.Errorf("copy in %s does not have the directory's group", d)
		}
	}
	out := filepath.Join(t.TempDir(), "r.req")
	f.do(func(s *Store) error {
		_, err := s.WriteRequest(out, RequestInfo{Order: "O-1", Fulfillment: "FN-1", Email: "a@example.com"}, pass)
		return err
	})
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("request mode %o, want 600", st.Mode().Perm())
	}
	// Never over an existing file unless Overwrite.
	s := f.open()
	_, err := s.WriteRequest(out, RequestInfo{Order: "O-1", Fulfillment: "FN-1", Email: "a@example.com"}, pass)
	s.Close()
	if !errors.Is(err, ErrOutputExists) {
		t.Errorf("request over an existing file: %v", err)
	}
}
