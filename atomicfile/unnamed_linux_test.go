package atomicfile

import (
	"fmt"
	"strings"
	"unsafe"

	"errors"
	"golang.org/x/sys/unix"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The temporary files of a batch have no name until they are complete
// and linked: while they are written, the directory holds nothing but the
// finished files, so a crash leaves no temporary files behind. Linking
// never overwrites.
func TestUnnamedTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	var l unnamedLinker
	f := openUnnamed(dir, 0o600)
	if f == nil || !l.usable(f) {
		t.Skipf("no O_TMPFILE in %s, or no /proc", dir)
	}
	defer f.Close()
	if _, err := f.Write([]byte("license")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("an unnamed file shows in the directory as %s", entries[0].Name())
	}
	target := filepath.Join(dir, "a.license")
	if err := l.link(f, target); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != "license" {
		t.Fatalf("linked file: %q, %v", got, err)
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("linked file mode: %v, %v", st.Mode(), err)
	}
	g := openUnnamed(dir, 0o600)
	if g == nil {
		t.Fatal("second unnamed file refused")
	}
	defer g.Close()
	g.Write([]byte("other"))
	if err := l.link(g, target); !errors.Is(err, fs.ErrExist) {
		t.Errorf("link over an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "license" {
		t.Errorf("the existing file was changed: %q", got)
	}
}

// WriteBatch itself uses unnamed temporary files: the only names that
// ever appear in the directory (inotify's IN_CREATE) are the targets.
func TestWriteBatchNamesOnlyTargets(t *testing.T) {
	dir := t.TempDir()
	if f := openUnnamed(dir, 0o600); f == nil || !(&unnamedLinker{}).usable(f) {
		t.Skipf("no O_TMPFILE in %s, or no /proc", dir)
	} else {
		f.Close()
	}
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var files []File
	for i := range 5 {
		name := fmt.Sprintf("r%d.license", i)
		want[name] = true
		files = append(files, File{Path: filepath.Join(dir, name), Data: []byte(name)})
	}
	if n, err := WriteBatch(files, 0o600, false); err != nil || n != len(files) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	buf := make([]byte, 64<<10)
	n, err := unix.Read(in, buf)
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		off += unix.SizeofInotifyEvent + int(ev.Len)
		if !want[name] {
			t.Errorf("%s was created in the directory", name)
		}
		created++
	}
	if created != len(files) {
		t.Errorf("%d names created, want %d", created, len(files))
	}
}
