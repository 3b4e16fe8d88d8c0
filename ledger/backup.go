package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ErrBackupPostgres is returned by Backup for a PostgreSQL ledger, which
// is backed up with PostgreSQL's own tools (pg_dump; see doc/desk.md).
var ErrBackupPostgres = errors.New("a PostgreSQL ledger is backed up with pg_dump (see doc/desk.md), not by oat")

// Backup writes a consistent copy of a SQLite ledger to path with SQLite's
// VACUUM INTO, which reads one snapshot of the database: desks and a
// portal may keep working while it runs. The copy is made beside path
// under a temporary name, synced, and only then put in place, so path
// holds a whole backup or nothing. Unless overwrite is set, an existing
// path is never replaced. The copy is written with mode 0600: the ledger
// holds the orders' fulfillment numbers.
func (d *DB) Backup(ctx context.Context, path string, overwrite bool) error {
	if d.dialect != SQLite {
		return ErrBackupPostgres
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd))
	// VACUUM INTO creates the file with the process umask; create it first,
	// empty and private, which VACUUM INTO accepts.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup %s: %w", path, pathErr(err))
	}
	f.Close()
	defer os.Remove(tmp)
	if _, err := d.sql.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	f, err = os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup %s: %w", path, pathErr(err))
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("backup %s: %w", path, pathErr(err))
	}
	if overwrite {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path) // fails if path exists: never overwrites
	}
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("backup %s: the file exists: oat does not overwrite files (give --force to replace it)", path)
		}
		return fmt.Errorf("backup %s: %w", path, pathErr(err))
	}
	if runtime.GOOS != "windows" {
		if df, err := os.Open(filepath.Dir(path)); err == nil {
			df.Sync()
			df.Close()
		}
	}
	return nil
}

// pathErr keeps the reason of a file system error, not the temporary name.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
