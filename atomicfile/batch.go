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
//
// On Linux, without replace, the temporary files have no name at all
// (O_TMPFILE) until they are linked into place: a crash or a failure
// leaves nothing behind, and each file costs fewer system calls (no
// temporary name to make and remove). Where the file system cannot do
// that, they are named temporary files, removed on failure.
func WriteBatch(files []File, perm fs.FileMode, replace bool) (written int, err error) {
	tmps := make([]temp, 0, len(files))
	defer func() {
		for _, t := range tmps {
			t.f.Close()
			if t.name != "" {
				os.Remove(t.name)
			}
		}
	}()
	// Per directory: one of its temporary files (for the syncs), and
	// whether it takes unnamed ones.
	type dirState struct {
		first   *os.File
		unnamed bool
	}
	dirs := map[string]*dirState{}
	var order []string
	var linker unnamedLinker
	for _, file := range files {
		dir, base := filepath.Split(file.Path)
		if dir == "" {
			dir = "."
		}
		ds := dirs[dir]
		if ds == nil {
			ds = &dirState{unnamed: !replace}
			dirs[dir] = ds
			order = append(order, dir)
		}
		var t temp
		if ds.unnamed {
			if t.f = openUnnamed(dir, perm, &linker); t.f == nil {
				ds.unnamed = false // not here: named temporary files
			}
		}
		if t.f == nil {
			f, err := os.CreateTemp(dir, "."+base+".tmp-*")
			if err != nil {
				return 0, fmt.Errorf("write %s: %w", file.Path, err)
			}
			t = temp{f: f, name: f.Name()}
		}
		tmps = append(tmps, t)
		if ds.first == nil {
			ds.first = t.f
		}
		if err := t.f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
			return 0, fmt.Errorf("write %s: %w", file.Path, err)
		}
		if _, err := t.f.Write(file.Data); err != nil {
			return 0, fmt.Errorf("write %s: %w", file.Path, err)
		}
	}
	all, firsts := make([]*os.File, len(tmps)), make([]*os.File, 0, len(order))
	for i, t := range tmps {
		all[i] = t.f
	}
	for _, dir := range order {
		firsts = append(firsts, dirs[dir].first)
	}
	if err := syncAll(all, firsts); err != nil {
		return 0, fmt.Errorf("write %s: %w", files[0].Path, err)
	}
	synced := func() error {
		for _, dir := range order {
			if err := syncDir(dir); err != nil {
				return err
			}
		}
		return nil
	}
	for i, file := range files {
		t := tmps[i]
		switch {
		case t.name == "":
			// Linking an unnamed file never overwrites either.
			err = linker.link(t.f, file.Path)
		case replace:
			err = os.Rename(t.name, file.Path)
		default:
			// As in Create: a hard link never overwrites.
			err = os.Link(t.name, file.Path)
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

// temp is the temporary file behind one target: name is "" when it has
// none (O_TMPFILE).
type temp struct {
	f    *os.File
	name string
}
