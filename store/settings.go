package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A product's settings directory belongs to the product, often to its own
// service user, while oat install and oat deactivate run as root. If that
// user could swap the directory for a symbolic link, root would write (and
// on deactivate remove) oat-license.oat wherever the link points. So a
// settings directory must be a real directory, not a symbolic link, and
// every directory above it must be writable only by root or by the user
// running oat (or carry the sticky bit, like /tmp, which keeps others from
// replacing entries they do not own). The rule is checked when the product
// is added and again before every write and removal in the directory.

// ErrUnsafeSettingsDir is wrapped when a settings directory breaks the rule.
var ErrUnsafeSettingsDir = errors.New("unsafe settings directory")

// CopyMode is the mode of the license copy in a settings directory. The
// copy gets the directory's group, so that a product whose service user is
// in that group reads it; others cannot (the license carries the order's
// fulfillment number).
const CopyMode fs.FileMode = 0o640

// checkSettingsDir checks dir (an absolute path) against the rule above.
func checkSettingsDir(dir string) error {
	st, err := os.Lstat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("settings directory %s: %w", dir, unwrapPath(err))
	case st.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0: // a link, or a Windows junction
		real, _ := filepath.EvalSymlinks(dir)
		return fmt.Errorf("settings directory %s is a symbolic link (to %s): %w; register the real directory", dir, real, ErrUnsafeSettingsDir)
	case !st.IsDir():
		return fmt.Errorf("settings directory %s is not a directory", dir)
	}
	if err := worldWritable(dir, st); err != nil {
		return err
	}
	// The directories above it, as written and as resolved: a symbolic
	// link on the way is fine if it sits in a directory only trusted users
	// can change, and so is every directory it leads through.
	for _, path := range []string{filepath.Dir(dir), resolved(filepath.Dir(dir))} {
		for p := path; ; p = filepath.Dir(p) {
			if err := trustedAncestor(p, dir); err != nil {
				return err
			}
			if filepath.Dir(p) == p {
				break
			}
		}
	}
	return nil
}

func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// settingsDir returns the checked directory of p, for a write or removal.
func settingsDir(p Product) (string, error) {
	if err := checkSettingsDir(p.SettingsDir); err != nil {
		return "", fmt.Errorf("product %s: %w", p.Code, err)
	}
	return p.SettingsDir, nil
}
