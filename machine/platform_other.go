//go:build !windows

package machine

// platformIdentity adds what only the running system can tell beyond the
// files under the root; on Unix systems the files say it all.
func platformIdentity(*Identity) {}
