//go:build !linux

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
)

// openUnnamed returns nil: only Linux has O_TMPFILE, so WriteBatch uses
// named temporary files.
func openUnnamed(string, fs.FileMode) *os.File { return nil }

type unnamedLinker struct{}

func (*unnamedLinker) usable(*os.File) bool { return false }

func (*unnamedLinker) link(*os.File, string) error {
	return errors.New("atomicfile: no unnamed files on this system")
}
