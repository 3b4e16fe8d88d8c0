package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
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
// leaves nothing behind, each file costs fewer system calls (no
// temporary name to make and remove), and they are made on every CPU at
// once, since making one does not lock the directory. Where the file
// system cannot do that, they are named temporary files, removed on
// failure.
func WriteBatch(files []File, perm fs.FileMode, replace bool) (written int, err error) {
	tmps := make([]temp, len(files))
	defer func() {
		for _, t := range tmps {
			if t.f != nil {
				t.f.Close()
				if t.name != "" {
					os.Remove(t.name)
				}
			}
		}
	}()
	// Per directory: one of its temporary files (for the syncs), and
	// whether it takes unnamed ones, tried on its first file.
	type dirState struct {
		first   *os.File
		unnamed bool
	}
	dirs := map[string]*dirState{}
	var order []string
	var linker unnamedLinker
	dirOf := make([]string, len(files))
	for i, file := range files {
		dir, _ := filepath.Split(file.Path)
		if dir == "" {
			dir = "."
		}
		dirOf[i] = dir
		if dirs[dir] != nil {
			continue
		}
		ds := &dirState{}
		if !replace {
			if f := openUnnamed(dir, perm); f != nil {
				if linker.usable(f) {
					ds.unnamed, tmps[i] = true, temp{f: f}
				} else {
					f.Close()
				}
			}
		}
		dirs[dir] = ds
		order = append(order, dir)
	}
	errs := make([]error, len(files))
	parallel(len(files), func(i int) {
		errs[i] = tmps[i].write(files[i], dirOf[i], dirs[dirOf[i]].unnamed, perm)
	})
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", files[i].Path, err)
		}
		if ds := dirs[dirOf[i]]; ds.first == nil {
			ds.first = tmps[i].f
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

// write makes t, unless it is made already (the first file of its
// directory), and writes file's content to it.
func (t *temp) write(file File, dir string, unnamed bool, perm fs.FileMode) error {
	if t.f == nil && unnamed {
		t.f = openUnnamed(dir, perm) // nil: a named file says why
	}
	if t.f == nil {
		_, base := filepath.Split(file.Path)
		f, err := os.CreateTemp(dir, "."+base+".tmp-*")
		if err != nil {
			return err
		}
		t.f, t.name = f, f.Name()
	}
	if err := t.f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	_, err := t.f.Write(file.Data)
	return err
}

// parallel calls f(0) … f(n-1) on up to GOMAXPROCS goroutines and waits
// for them; each call touches only its own index's data.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}
