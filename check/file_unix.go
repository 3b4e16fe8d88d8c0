//go:build unix

package check

import "syscall"

// oNonblock keeps open from waiting for a FIFO's writer.
const oNonblock = syscall.O_NONBLOCK

func defaultTrialMarker() string { return "/var/lib/oat/trial" }
