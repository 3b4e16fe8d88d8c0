package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
)

// outputMode is the mode of the request, license and receipt files oat
// writes: they carry the order's fulfillment number, the order's secret.
const outputMode fs.FileMode = 0o600

// checkOut checks, before a command does anything, that it will be able to
// write its output at path: the directory exists, and the file does not
// unless --force is given. A command that would fail to write its result
// must fail before it records anything (in the ledger or the store).
func checkOut(c *ucli.Context, path string) error {
	return checkOutPath(path, c.Bool("force"))
}

func checkOutPath(path string, force bool) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: the directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("%s: cannot reach the directory %s: %w", path, dir, pathReason(err))
	case !st.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	return checkOutFile(path, force)
}

// checkOutFile is checkOutPath for a file in a directory already checked.
func checkOutFile(path string, force bool) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", path, pathReason(err))
	case st.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case !force:
		return fmt.Errorf("%s exists: oat does not overwrite files (give --force to replace it)", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file: oat replaces only regular files", path)
	}
	return nil
}

// writeOut writes a command's output file: never over an existing file
// unless --force is given, and always whole or not at all.
func writeOut(c *ucli.Context, path string, data []byte) error {
	if c.Bool("force") {
		if err := checkOutPath(path, true); err != nil {
			return err
		}
		return cleanWriteError(path, atomicfile.Write(path, data, outputMode))
	}
	return cleanWriteError(path, atomicfile.Create(path, data, outputMode))
}

// writeOutAll writes data[i] to paths[i] through b, begun with
// atomicfile.NewBatch(paths, outputMode, --force), as writeOut writes
// each, and returns how many are in place.
func writeOutAll(c *ucli.Context, b *atomicfile.Batch, paths []string, data [][]byte) (int, error) {
	if c.Bool("force") {
		for _, path := range paths {
			if err := checkOutFile(path, true); err != nil {
				return 0, err
			}
		}
	}
	n, err := b.Write(data)
	if err != nil {
		return n, cleanWriteError(paths[min(n, len(paths)-1)], err)
	}
	return n, nil
}

// cleanWriteError turns a write error into the admin's words: which file,
// and why, without the temporary file's name or the system call.
func cleanWriteError(path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s exists: oat does not overwrite files (give --force to replace it)", path)
	}
	return fmt.Errorf("cannot write %s: %w", path, pathReason(err))
}

// pathReason reduces a file system error to its reason ("permission
// denied", "no such file or directory"): the caller names the path the
// admin gave, not the temporary file or the system call behind it.
func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
