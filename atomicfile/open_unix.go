//go:build unix

package atomicfile

import "syscall"

// openNonBlock keeps open(2) from waiting for a writer on a named pipe; it
// does nothing to regular files.
const openNonBlock = syscall.O_NONBLOCK
