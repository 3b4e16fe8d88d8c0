//go:build !unix

package store

import (
	"io/fs"
	"os"
)

// On Windows the settings directory's ACL, not a mode, says who may write;
// oat checks there only that it is no symbolic link or junction (in
// checkSettingsDir) and leaves the ACLs to the product's installer.
func worldWritable(string, fs.FileInfo) error { return nil }

func trustedAncestor(string, string) error { return nil }

func giveGroup(*os.File, string) {}
