//go:build !unix && !windows

package store

import (
	"errors"
	"os"
)

// Without a file lock two processes could interleave their writes, so the
// store refuses to open rather than risk it.
func lockFile(*os.File) error {
	return errors.New("file locking is not supported on this system")
}

func unlockFile(*os.File) error { return nil }

func openLock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
