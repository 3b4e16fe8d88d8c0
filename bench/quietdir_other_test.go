//go:build !linux

package bench

import "testing"

// quietDir is b.TempDir: only Linux's ext4 needs it (see the Linux file).
func quietDir(b *testing.B) string { return b.TempDir() }
