package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// File is one file of a batch: its path and its content.
type File struct {
	Path string
	Data []byte
}

// WriteBatch writes files as Create does (or, with replace, as Write
// does), each atomically, but with a constant number of syncs instead of
// two per file: every file's content goes to a temporary file first, all
// of them reach the disk in one pass (one syncfs(2) on Linux; one fsync
// per file elsewhere), then each is linked or renamed into place, then
// each directory is synced once. A crash at any moment leaves each target
// either as it was (absent, or its old content) or complete, never torn.
// Files before the one that failed stay in place; written says how many.
func WriteBatch(files []File, perm fs.FileMode, replace bool) (written int, err error) {
	tmps := make([]*os.File, 0, len(files))
	defer func() {
		for _, f := range tmps {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	dirs := map[string]bool{}
	for _, file := range files {
		dir, base := filepath.Split(file.Path)
		if dir == "" {
			dir = "."
		}
		dirs[dir] = true
		f, err := os.CreateTemp(dir, "."+base+".tmp-*")
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", file.Path, err)
		}
		tmps = append(tmps, f)
		if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
			return 0, fmt.Errorf("write %s: %w", file.Path, err)
		}
		if _, err := f.Write(file.Data); err != nil {
			return 0, fmt.Errorf("write %s: %w", file.Path, err)
		}
	}
	if err := syncAll(tmps); err != nil {
		return 0, fmt.Errorf("write %s: %w", files[0].Path, err)
	}
	for _, f := range tmps {
		if err := f.Close(); err != nil {
			return 0, fmt.Errorf("write %s: %w", f.Name(), err)
		}
	}
	synced := func() error {
		for dir := range dirs {
			if err := syncDir(dir); err != nil {
				return err
			}
		}
		return nil
	}
	for i, file := range files {
		if replace {
			err = os.Rename(tmps[i].Name(), file.Path)
		} else {
			// As in Create: a hard link never overwrites.
			err = os.Link(tmps[i].Name(), file.Path)
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("write %s: refusing to overwrite an existing file: %w", file.Path, ErrExists)
			} else {
				err = fmt.Errorf("write %s: %w", file.Path, err)
			}
			return i, errors.Join(err, synced())
		}
	}
	return len(files), synced()
}
