//go:build unix

package check_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oat-toolkit/oat/check"
)

// TestFIFO: a FIFO in the license's place is refused at once; a reader
// that opened it plainly would wait for a writer forever.
func TestFIFO(t *testing.T) {
	s := newServer(t)
	if err := syscall.Mkfifo(filepath.Join(s.dir, check.LicenseFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.dir, check.ClockFile), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.marker, []byte("1772355600\n"), 0o644)
	done := make(chan error, 1)
	go func() { _, err := s.check("backup-server"); done <- err }()
	if err := <-done; !errors.Is(err, check.ErrUnreadable) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("FIFO: %v", err)
	}
}
