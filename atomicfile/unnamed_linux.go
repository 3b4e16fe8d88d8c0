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
// where that cannot be done: a file system without O_TMPFILE, or no
// /proc to link through; the caller then uses a named temporary file,
// which also reports the errors that are not about O_TMPFILE.
func openUnnamed(dir string, perm fs.FileMode, l *unnamedLinker) *os.File {
	if l.broken {
		return nil
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), dir)
	if !l.checked {
		// The file is linked through its /proc/self/fd entry (linkat with
		// AT_EMPTY_PATH needs a capability); make sure there is one before
		// the batch depends on it.
		l.checked = true
		if _, err := os.Stat(l.procPath(f)); err != nil {
			l.broken = true
			f.Close()
			return nil
		}
	}
	return f
}

// unnamedLinker links the files of openUnnamed into place.
type unnamedLinker struct {
	checked, broken bool
}

func (unnamedLinker) procPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
}

// link gives the unnamed file f the name path; like link(2), it fails
// with an error matching fs.ErrExist if path exists.
func (l unnamedLinker) link(f *os.File, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, l.procPath(f), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: fmt.Sprintf("(unnamed file in %s)", f.Name()), New: path, Err: err}
	}
	return nil
}
