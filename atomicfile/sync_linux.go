package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncAll makes the content of files durable. One syncfs(2) writes back
// the whole file system they are on (they are all in the directories of
// one batch, hence usually on one file system) in a single journal
// commit; files on other file systems get their own fsync.
func syncAll(files []*os.File) error {
	if len(files) == 0 {
		return nil
	}
	var st0 unix.Stat_t
	if err := unix.Fstat(int(files[0].Fd()), &st0); err != nil {
		return err
	}
	if err := unix.Syncfs(int(files[0].Fd())); err != nil {
		return err
	}
	for _, f := range files[1:] {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return err
		}
		if st.Dev != st0.Dev {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}
