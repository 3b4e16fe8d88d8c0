package check_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/response"
)

// FuzzCheck feeds arbitrary bytes as the license copy: the check must
// answer, never panic, and say licensed exactly when it returns no error.
func FuzzCheck(f *testing.F) {
	s := newServer(f)
	good := s.license(nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(s.license(func(l *response.License) { l.Products = nil }))
	f.Add([]byte("-----BEGIN OAT LICENSE-----\n-----END OAT LICENSE-----\n"))
	for _, name := range []string{"license.oat", "license.cbor", "license-truncated.oat", "license-duplicate-claim.oat", "request.oat"} {
		if data, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", name)); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s.t = t
		s.install(data)
		// s.check asserts that the error and the verdict agree.
		v, _ := s.check("backup-server")
		if v.Licensed && v.State != check.Licensed {
			t.Fatalf("licensed in state %s", v.State)
		}
	})
}
