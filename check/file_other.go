//go:build !unix && !windows

package check

const oNonblock = 0

func defaultTrialMarker() string { return "/var/lib/oat/trial" }
