package atomicfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/oat-toolkit/oat/atomicfile"
)

func TestWriteBatch(t *testing.T) {
	dir := t.TempDir()
	var files []atomicfile.File
	for i := range 20 {
		files = append(files, atomicfile.File{Path: filepath.Join(dir, fmt.Sprintf("f%02d.license", i)), Data: []byte(fmt.Sprintf("license %d\n", i))})
	}
	n, err := atomicfile.WriteBatch(files, 0o644, false)
	if err != nil || n != len(files) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	for _, f := range files {
		got, err := os.ReadFile(f.Path)
		if err != nil || string(got) != string(f.Data) {
			t.Errorf("%s: %q, %v", f.Path, got, err)
		}
		if st, err := os.Stat(f.Path); err == nil && runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", f.Path, st.Mode())
		}
	}

	// Without replace, an existing target stops the batch there: the files
	// before it are in place, it keeps its content, the rest are not
	// written, and no temporary file is left.
	again := []atomicfile.File{
		{Path: filepath.Join(dir, "new1.license"), Data: []byte("new 1")},
		{Path: files[3].Path, Data: []byte("overwrite")},
		{Path: filepath.Join(dir, "new2.license"), Data: []byte("new 2")},
	}
	n, err = atomicfile.WriteBatch(again, 0o644, false)
	if n != 1 || !errors.Is(err, atomicfile.ErrExists) {
		t.Fatalf("WriteBatch over an existing file = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(files[3].Path); string(got) != string(files[3].Data) {
		t.Errorf("the existing file was changed: %q", got)
	}
	if _, err := os.Stat(again[2].Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file after the failure was written: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(files)+1 {
		for _, e := range entries {
			t.Log(e.Name())
		}
		t.Errorf("%d entries in the directory, want %d (no temporary files)", len(entries), len(files)+1)
	}

	// With replace, existing targets get the new content.
	n, err = atomicfile.WriteBatch(again, 0o600, true)
	if err != nil || n != 3 {
		t.Fatalf("WriteBatch with replace = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(files[3].Path); string(got) != "overwrite" {
		t.Errorf("replace: %q", got)
	}
}

// ReadCapped sizes its buffer from the file; the cap still holds at and
// around it, and the content is whole.
func TestReadCappedSizes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		size, limit int
		tooLarge    bool
	}{{0, 10, false}, {1, 1, false}, {10, 10, false}, {11, 10, true}, {5000, 4999, true}, {70000, 1 << 20, false}} {
		path := filepath.Join(dir, fmt.Sprintf("f%d-%d", tc.size, tc.limit))
		want := make([]byte, tc.size)
		for i := range want {
			want[i] = byte(i)
		}
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := atomicfile.ReadCapped(path, int64(tc.limit))
		switch {
		case tc.tooLarge:
			if !errors.Is(err, atomicfile.ErrTooLarge) {
				t.Errorf("%d bytes, limit %d: %v, want ErrTooLarge", tc.size, tc.limit, err)
			}
		case err != nil || string(got) != string(want):
			t.Errorf("%d bytes, limit %d: %d bytes, %v", tc.size, tc.limit, len(got), err)
		}
	}
}
