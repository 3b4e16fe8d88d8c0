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
	paths, data := make([]string, len(files)), make([][]byte, len(files))
	for i, f := range files {
		paths[i], data[i] = f.Path, f.Data
	}
	b := NewBatch(paths, perm, replace)
	defer b.Discard()
	return b.Write(data)
}

// Batch is a WriteBatch begun before its contents are known: NewBatch
// starts making the temporary files (the unnamed ones: nothing shows in
// a directory before Write links them) in the background, while the
// caller computes what goes in them, and Write finishes as WriteBatch
// does. A Batch is used once, by one goroutine; Discard must be called
// (after Write too) to release what Write did not use.
type Batch struct {
	paths   []string
	perm    fs.FileMode
	replace bool
	tmps    []temp
	dirOf   []string
	dirs    map[string]*batchDir
	order   []string // the directories, in the order of their first file
	linker  unnamedLinker
	next    atomic.Int64 // the next file to make
	ahead   sync.WaitGroup
	stop    atomic.Bool
}

type batchDir struct {
	first   *os.File // one of its temporary files, for the syncs
	unnamed bool     // it takes unnamed files
}

// NewBatch begins a batch that will write the files paths, with perm,
// replacing existing ones only with replace.
func NewBatch(paths []string, perm fs.FileMode, replace bool) *Batch {
	b := &Batch{paths: paths, perm: perm, replace: replace, tmps: make([]temp, len(paths)),
		dirOf: make([]string, len(paths)), dirs: map[string]*batchDir{}}
	for i, path := range paths {
		dir, _ := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		b.dirOf[i] = dir
		if b.dirs[dir] != nil {
			continue
		}
		ds := &batchDir{}
		if !replace {
			if f := openUnnamed(dir, perm); f != nil {
				if b.linker.usable(f) {
					ds.unnamed, b.tmps[i] = true, temp{f: f}
				} else {
					f.Close()
				}
			}
		}
		b.dirs[dir] = ds
		b.order = append(b.order, dir)
	}
	// One goroutine makes the unnamed files ahead, in the time the caller
	// leaves a CPU idle; Write joins in on every CPU.
	b.ahead.Go(b.makeAhead)
	return b
}

// makeAhead makes unnamed files until there are none left to make.
func (b *Batch) makeAhead() {
	for i := claim(&b.next, len(b.paths)); i >= 0 && !b.stop.Load(); i = claim(&b.next, len(b.paths)) {
		if b.dirs[b.dirOf[i]].unnamed && b.tmps[i].f == nil {
			b.tmps[i].f = openUnnamed(b.dirOf[i], b.perm) // nil: made again by Write
		}
	}
}

// claim returns the next index below n to work on, or -1.
func claim(next *atomic.Int64, n int) int {
	if i := int(next.Add(1) - 1); i < n {
		return i
	}
	return -1
}

// Write writes data[i] to the i-th path of the batch, as WriteBatch does.
func (b *Batch) Write(data [][]byte) (written int, err error) {
	if len(data) != len(b.paths) {
		return 0, fmt.Errorf("atomicfile: %d contents for %d files", len(data), len(b.paths))
	}
	// The unnamed files not made yet, on every CPU; then every file's
	// content (and the named files), on every CPU.
	parallel(len(b.paths), b.makeAhead)
	b.ahead.Wait()
	var next atomic.Int64
	errs := make([]error, len(b.paths))
	parallel(len(b.paths), func() {
		for i := claim(&next, len(b.paths)); i >= 0; i = claim(&next, len(b.paths)) {
			errs[i] = b.tmps[i].write(b.paths[i], data[i], b.dirOf[i], b.dirs[b.dirOf[i]].unnamed, b.perm)
		}
	})
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", b.paths[i], err)
		}
		if ds := b.dirs[b.dirOf[i]]; ds.first == nil {
			ds.first = b.tmps[i].f
		}
	}
	all, firsts := make([]*os.File, len(b.tmps)), make([]*os.File, 0, len(b.order))
	for i, t := range b.tmps {
		all[i] = t.f
	}
	for _, dir := range b.order {
		firsts = append(firsts, b.dirs[dir].first)
	}
	if err := syncAll(all, firsts); err != nil {
		return 0, fmt.Errorf("write %s: %w", b.paths[0], err)
	}
	synced := func() error {
		for _, dir := range b.order {
			if err := syncDir(dir); err != nil {
				return err
			}
		}
		return nil
	}
	for i, path := range b.paths {
		t := b.tmps[i]
		switch {
		case t.name == "":
			// Linking an unnamed file never overwrites either.
			err = b.linker.link(t.f, path)
		case b.replace:
			err = os.Rename(t.name, path)
		default:
			// As in Create: a hard link never overwrites.
			err = os.Link(t.name, path)
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("write %s: refusing to overwrite an existing file: %w", path, ErrExists)
			} else {
				err = fmt.Errorf("write %s: %w", path, err)
			}
			return i, errors.Join(err, synced())
		}
	}
	return len(b.paths), synced()
}

// Discard closes the temporary files of the batch and removes the named
// ones: after Write, those not linked; without it, all of them (unnamed
// files vanish when closed), so a batch given up leaves nothing behind.
func (b *Batch) Discard() {
	b.stop.Store(true)
	b.ahead.Wait()
	for _, t := range b.tmps {
		if t.f != nil {
			t.f.Close()
			if t.name != "" {
				os.Remove(t.name)
			}
		}
	}
	b.tmps = nil
}

// temp is the temporary file behind one target: name is "" when it has
// none (O_TMPFILE).
type temp struct {
	f    *os.File
	name string
}

// write makes t, unless it is made already, and writes data to it.
func (t *temp) write(path string, data []byte, dir string, unnamed bool, perm fs.FileMode) error {
	if t.f == nil && unnamed {
		t.f = openUnnamed(dir, perm) // nil: a named file says why
	}
	if t.f == nil {
		_, base := filepath.Split(path)
		f, err := os.CreateTemp(dir, "."+base+".tmp-*")
		if err != nil {
			return err
		}
		t.f, t.name = f, f.Name()
	}
	if err := t.f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	_, err := t.f.Write(data)
	return err
}

// parallel runs f on GOMAXPROCS goroutines and waits for them.
func parallel(n int, f func()) {
	var wg sync.WaitGroup
	for range max(1, min(n, runtime.GOMAXPROCS(0))) {
		wg.Go(f)
	}
	wg.Wait()
}
