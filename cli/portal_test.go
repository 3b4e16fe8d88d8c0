package cli

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestScriptsPortal(t *testing.T) {
	runScripts(t, "portal", func(e *testscript.Env) error {
		e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
		return nil
	})
}
