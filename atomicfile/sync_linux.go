package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncAll makes the content of files durable. firsts holds one of them
// per directory of the batch (a temporary file is on its directory's file
// system). One syncfs(2) per file system writes all of it back in a
// single pass; usually a batch is on one.
func syncAll(_ []*os.File, firsts []*os.File) error {
	done := map[uint64]bool{}
	for _, f := range firsts {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return err
		}
		if done[st.Dev] {
			continue
		}
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return err
		}
		done[st.Dev] = true
	}
	return nil
}
