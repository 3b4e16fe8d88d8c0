//go:build windows

package check

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

// oNonblock is not needed on Windows: named pipes do not live in the file
// system's directories.
const oNonblock = 0

// defaultTrialMarker is %ProgramData%\oat\trial, the folder asked from the
// system rather than from the environment.
func defaultTrialMarker() string {
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "oat", "trial")
}
