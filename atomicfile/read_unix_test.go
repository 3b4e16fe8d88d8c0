//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A named pipe or a device in place of a file is refused at once: reading
// it would block (a FIFO with no writer) or never end (/dev/zero).
func TestReadCappedOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "oat-license.oat")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ReadCapped(fifo, 1<<20)
		done <- err
	}()
	// If the open blocked, this test would hang until the test timeout.
	if err := <-done; !errors.Is(err, ErrNotRegular) {
		t.Errorf("FIFO: got %v, want ErrNotRegular", err)
	}
	if _, err := ReadCapped("/dev/zero", 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Errorf("/dev/zero: got %v, want ErrNotRegular", err)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("ok"), 0o600)
	if data, err := ReadCapped(file, 10); err != nil || string(data) != "ok" {
		t.Errorf("regular file: %q, %v", data, err)
	}
	if _, err := ReadCapped(file, 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
}
