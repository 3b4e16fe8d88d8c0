package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// testCommands are the programs testscript scripts can run as if installed.
// Test files add test-only helpers (never shipped in the binary) from their
// own init functions.
var testCommands = map[string]func(){
	"oat": func() { os.Exit(Main(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
}

func TestMain(m *testing.M) {
	testscript.Main(m, testCommands)
}

// runScripts runs the testscript files in testdata/DIR.
func runScripts(t *testing.T, dir string, setup func(*testscript.Env) error) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/" + dir,
		Setup: func(e *testscript.Env) error {
			// The race detector sleeps a second at every exit by default,
			// which dominates scripts that run oat dozens of times.
			e.Setenv("GORACE", "atexit_sleep_ms=0")
			if setup != nil {
				return setup(e)
			}
			return nil
		},
		RequireExplicitExec: false,
	})
}

func TestScriptsFoundation(t *testing.T) {
	runScripts(t, "foundation", func(e *testscript.Env) error {
		// Vectors are shared with the signing package tests.
		e.Setenv("VECTORS", mustAbs("../testdata/vectors"))
		return nil
	})
}

// copyMachines copies the example machine trees into the script's work
// directory, because oat writes its trial marker under the system root it
// reads and the source tree must stay untouched.
func copyMachines(e *testscript.Env) string {
	dst := filepath.Join(e.WorkDir, "machines")
	err := os.CopyFS(dst, os.DirFS(mustAbs("../examples/machines")))
	if err != nil {
		panic(err)
	}
	return dst
}

func mustAbs(p string) string {
	a, err := absPath(p)
	if err != nil {
		panic(err)
	}
	return a
}
