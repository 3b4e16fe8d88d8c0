package bench

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// fsTopdirFL is FS_TOPDIR_FL (chattr +T): ext4 places the directories
// made in such a directory as it places those at the top of the file
// system, each in a block group of its own with many free inodes.
const fsTopdirFL = 0x00020000

// quietDir returns a temporary directory for a benchmark's files in
// which each new directory (os.MkdirTemp) lands in a quiet block group
// on ext4. Without it, the files go into the block group of $TMPDIR,
// where creating a file on a journal-less ext4 (this machine's) first
// steps over every inode the group freed in the last minutes, one by
// one: after the cleanup of a previous run (thousands of files), up to
// a millisecond per file, which measured that instead of the command.
// Elsewhere the flag is refused or means nothing, and nothing changes.
func quietDir(b *testing.B) string {
	dir := b.TempDir()
	f, err := os.Open(dir)
	if err != nil {
		return dir
	}
	defer f.Close()
	if flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS); err == nil {
		unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
	}
	return dir
}
