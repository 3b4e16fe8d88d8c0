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
