package cli

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestScriptsProductKey(t *testing.T) {
	runScripts(t, "productkey", func(e *testscript.Env) error {
		// The product key vectors (doc/format.md §11).
		e.Setenv("KEYS", mustAbs("../testdata/productkey"))
		e.Setenv("VECTORS", mustAbs("../testdata/vectors"))
		e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
		e.Setenv("OAT_PASSPHRASE", "product key test passphrase")
		return nil
	})
}
