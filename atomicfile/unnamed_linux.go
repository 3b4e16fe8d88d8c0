package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openUnnamed opens a file with no name in dir (O_TMPFILE), for
// unnamedLinker.link to give it one once it is complete. It returns nil
// where that cannot be done (a file system without O_TMPFILE, or any
// other error); the caller then uses a named temporary file, which
// reports the errors that are not about O_TMPFILE.
func openUnnamed(dir string, perm fs.FileMode) *os.File {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), dir)
}

// unnamedLinker links the files of openUnnamed into place, through their
// /proc/self/fd entries (linkat with AT_EMPTY_PATH needs a capability).
type unnamedLinker struct {
	checked, ok bool
}

// usable reports whether f, an unnamed file, can be linked: whether
// there is a /proc to link through. It looks once; a batch asks before
// it depends on the answer.
func (l *unnamedLinker) usable(f *os.File) bool {
	if !l.checked {
		_, err := os.Stat(procPath(f))
		l.checked, l.ok = true, err == nil
	}
	return l.ok
}

func procPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
}

// link gives the unnamed file f the name path; like link(2), it fails
// with an error matching fs.ErrExist if path exists.
func (*unnamedLinker) link(f *os.File, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, procPath(f), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: fmt.Sprintf("(unnamed file in %s)", f.Name()), New: path, Err: err}
	}
	return nil
}
