// Command oat is the offline activation toolkit: it writes activation
// requests on isolated servers, issues licenses at the license desk, and
// verifies and installs them back on the server. See README.md.
package main

import (
	"os"

	"github.com/oat-toolkit/oat/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
