package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/oat-toolkit/oat/signing"
)

// FuzzInstall feeds arbitrary bytes to Install: it must never panic, never
// accept a file the vendor did not sign, and never change the store.
func FuzzInstall(f *testing.F) {
	fx := newFixture(f)
	r := fx.request()
	good := fx.license(r, 1, true, nil)
	m, _ := signing.Parse(good)
	f.Add(good[:len(good)-40])
	f.Add(m.Raw()[:len(m.Raw())-1])
	f.Add(bytes.Replace(m.Raw(), []byte("test desk"), []byte("best desk"), 1))
	s, err := Open(fx.dir, fx.opts)
	if err != nil {
		f.Fatal(err)
	}
	req, _ := os.ReadFile(s.Pending().File)
	s.Close()
	f.Add(req)
	f.Add([]byte("-----BEGIN OAT LICENSE-----\n\n-----END OAT LICENSE-----\n"))
	statePath := filepath.Join(fx.dir, StateFile)
	before, err := os.ReadFile(statePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Open(fx.dir, fx.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Install(data); err == nil {
			t.Fatalf("installed %q", data)
		}
		after, _ := os.ReadFile(statePath)
		if !bytes.Equal(before, after) {
			t.Fatal("a refused install changed state.json")
		}
	})
}
