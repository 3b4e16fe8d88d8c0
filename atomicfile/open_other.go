//go:build !unix

package atomicfile

// openNonBlock: Windows has no named pipes in the file system namespace
// that an open would wait on.
const openNonBlock = 0
