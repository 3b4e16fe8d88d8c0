package cli

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScriptsRules runs the license rules that span the server and the
// desk as an admin and the desk type them (A26 recovery, transfers).
func TestScriptsRules(t *testing.T) {
	runScripts(t, "rules", func(e *testscript.Env) error {
		e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
		e.Setenv("MACHINES", copyMachines(e))
		e.Setenv("OAT_PASSPHRASE", "rules test passphrase")
		return nil
	})
}
