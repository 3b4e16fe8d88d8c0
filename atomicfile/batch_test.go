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

// A file that cannot be made stops the batch before anything is linked:
// the error names the first such file in the batch's order, and no file,
// temporary or not, is left in any directory of the batch.
func TestWriteBatchFailsWhole(t *testing.T) {
	dir := t.TempDir()
	var files []atomicfile.File
	for i := range 40 {
		d := dir
		if i%10 == 7 {
			d = filepath.Join(dir, "missing")
		}
		files = append(files, atomicfile.File{Path: filepath.Join(d, fmt.Sprintf("f%02d.license", i)), Data: []byte("x")})
	}
	n, err := atomicfile.WriteBatch(files, 0o600, false)
	if n != 0 || err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	if want := "write " + files[7].Path + ":"; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q does not name the first file that failed, %s", err, files[7].Path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left, first %s", len(entries), entries[0].Name())
	}
}

// BenchmarkWriteBatch writes 1,500 license-sized files into a new
// directory per op, as `oat desk issue --out-dir` does with a batch of
// 1,500 requests.
func BenchmarkWriteBatch(b *testing.B) {
	const n = 1500
	dir := b.TempDir()
	data := make([]byte, 1300)
	for i := range b.N {
		b.StopTimer()
		d := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		files := make([]atomicfile.File, n)
		for j := range files {
			files[j] = atomicfile.File{Path: filepath.Join(d, fmt.Sprintf("r%04d.license", j)), Data: data}
		}
		b.StartTimer()
		if _, err := atomicfile.WriteBatch(files, 0o600, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/file")
}

// A batch begun and given up (the desk refused the requests) leaves
// nothing in its directory, whether its files were being made ahead
// (unnamed) or not (replace: named ones, made only by Write).
func TestBatchDiscard(t *testing.T) {
	for _, replace := range []bool{false, true} {
		dir := t.TempDir()
		var paths []string
		for i := range 50 {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("r%02d.license", i)))
		}
		b := atomicfile.NewBatch(paths, 0o600, replace)
		b.Discard()
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("replace=%v: %d entries left, first %s", replace, len(entries), entries[0].Name())
		}
		b = atomicfile.NewBatch(paths, 0o600, replace)
		if n, err := b.Write(make([][]byte, 3)); n != 0 || err == nil {
			t.Errorf("replace=%v: Write with 3 contents for 50 files = %d, %v", replace, n, err)
		}
		b.Discard()
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("replace=%v: %d entries left after a refused Write", replace, len(entries))
		}
	}
}
