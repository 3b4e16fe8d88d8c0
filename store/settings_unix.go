//go:build unix

package store

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// worldWritable refuses a settings directory anyone may write to without
// the sticky bit: anyone could then replace the license copy.
func worldWritable(dir string, st fs.FileInfo) error {
	if st.Mode().Perm()&0o002 != 0 && st.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("settings directory %s is writable by every user (mode %o): %w; chmod o-w it", dir, st.Mode().Perm(), ErrUnsafeSettingsDir)
	}
	return nil
}

// trustedAncestor checks a directory above a settings directory: owned by
// root or by the user running oat, and writable by no one else unless it
// has the sticky bit.
func trustedAncestor(p, dir string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("settings directory %s: %s: %w", dir, p, unwrapPath(err))
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return nil // its own directory is checked next; where it leads, by the resolved pass
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(sys.Uid); uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("settings directory %s sits under %s, which belongs to another user (uid %d), who could swap it: %w", dir, p, uid, ErrUnsafeSettingsDir)
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("settings directory %s sits under %s, which other users may write to (mode %o): %w", dir, p, st.Mode().Perm(), ErrUnsafeSettingsDir)
	}
	return nil
}

// giveGroup gives the staged copy f the group of its settings directory,
// so the product's service group reads it. A non-root oat may not be able
// to; the copy then keeps oat's own group, as before.
func giveGroup(f *os.File, dir string) {
	st, err := os.Stat(dir)
	if err != nil {
		return
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		f.Chown(-1, int(sys.Gid))
	}
}
