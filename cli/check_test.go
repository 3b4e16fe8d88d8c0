package cli

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	// oat-exit N ARGS... runs oat ARGS and succeeds only if it exits with
	// status N, so scripts can tell "not licensed" (1) from a usage
	// mistake (2).
	testCommands["oat-exit"] = func() {
		want, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "oat-exit: want N ARGS...")
			os.Exit(2)
		}
		got := Main(append([]string{"oat"}, os.Args[2:]...), os.Stdin, os.Stdout, os.Stderr)
		if got != want {
			fmt.Fprintf(os.Stderr, "oat-exit: oat exited with %d, want %d\n", got, want)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// TestScriptsCheck runs the product's check as products call it.
func TestScriptsCheck(t *testing.T) {
	runScripts(t, "check", func(e *testscript.Env) error {
		e.Setenv("OAT_PASSPHRASE", "correct horse battery")
		return nil
	})
}
