//go:build !linux

package atomicfile

import "os"

// syncAll makes the content of files durable, one fsync each.
func syncAll(files []*os.File, _ []*os.File) error {
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}
