package desk_test

import (
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
)

func TestExampleCatalogCoversEveryModel(t *testing.T) {
	c, err := desk.ParseCatalog(examples.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, p := range c.Products {
		have[p.Code] = p.Model
	}
	for code, model := range map[string]string{
		"backup-server": "server", "backup-desktop": "desktop", "backup-linux": "linux", "backup-virtual": "virtual",
		"backup-vpack": "vpack", "backup-cloud": "cloud", "backup-cluster": "cluster", "backup-cluster-node": "cluster-node",
		"backup-itpro": "itpro", "backup-deploy": "deploy", "replica-server": "server",
	} {
		if have[code] != model {
			t.Errorf("%s: model %q, want %q", code, have[code], model)
		}
	}
	if _, err := desk.ParseOrders(examples.Orders()); err != nil {
		t.Errorf("examples/orders.json: %v", err)
	}
}

func TestCatalogRejects(t *testing.T) {
	const model = `"m": {"description": "d", "count": "activation"}`
	for _, c := range []struct{ name, in, want string }{
		{"duplicate key", `{"models": {` + model + `}, "products": [{"code": "a", "code": "b", "name": "A", "model": "m"}]}`, `duplicate key "code"`},
		{"duplicate model", `{"models": {` + model + `, ` + model + `}, "products": []}`, `duplicate key "m"`},
		{"unknown field", `{"models": {` + model + `}, "products": [{"code": "a", "name": "A", "model": "m", "price": 1}]}`, `unknown field "price"`},
		{"unknown model", `{"models": {` + model + `}, "products": [{"code": "a", "name": "A", "model": "x"}]}`, `product a: unknown model "x"`},
		{"bad count", `{"models": {"m": {"description": "d", "count": "seats"}}, "products": [{"code": "a", "name": "A", "model": "m"}]}`, `model m: count "seats" is not one of "activation", "group"`},
		{"bad code", `{"models": {` + model + `}, "products": [{"code": "A B", "name": "A", "model": "m"}]}`, `product 1: code "A B"`},
		{"twice", `{"models": {` + model + `}, "products": [{"code": "a", "name": "A", "model": "m"}, {"code": "a", "name": "A", "model": "m"}]}`, `product a is listed twice`},
		{"trailing", `{"models": {` + model + `}, "products": [{"code": "a", "name": "A", "model": "m"}]} {}`, `after the JSON document`},
		{"requires", `{"models": {"m": {"description": "d", "count": "activation", "requires": "zz"}}, "products": [{"code": "a", "name": "A", "model": "m"}]}`, `requires unknown model "zz"`},
		{"empty", ``, `EOF`},
		{"too deep", strings.Repeat("[", 100), `nested too deeply`},
	} {
		_, err := desk.ParseCatalog([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := desk.ParseCatalog(make([]byte, desk.MaxCatalogFile+1)); err == nil {
		t.Error("oversized catalog accepted")
	}
}

func FuzzParseCatalog(f *testing.F) {
	f.Add(examples.Catalog())
	f.Add(examples.Orders())
	f.Fuzz(func(t *testing.T, data []byte) {
		desk.ParseCatalog(data)
		desk.ParseOrders(data)
	})
}

// An orders file and a catalog are typed by the desk as flags are, and
// what they hold is printed later by desk show and the portal: a control
// character in them is refused where it comes in, not only escaped on the
// way out.
func TestImportedTextRefusesControlCharacters(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		before := fx.dump()
		for _, line := range []desk.OrderLine{
			{Order: "ORD-\x1b[2J", Fulfillment: "FN", Email: "a@example.com", Product: "backup-server", Seats: 1},
			{Order: "ORD-9", Fulfillment: "FN\u202e", Email: "a@example.com", Product: "backup-server", Seats: 1},
			{Order: "ORD-9", Fulfillment: "FN", Email: "a@example.com\x07", Product: "backup-server", Seats: 1},
		} {
			err := fx.desk.ImportOrders(ctx, []desk.OrderLine{line}, "test")
			wantErr(t, err, desk.ErrInvalidInput, "")
			if err != nil && !strings.Contains(err.Error(), "control character") {
				t.Errorf("message: %v", err)
			}
		}
		if after := fx.dump(); after != before {
			t.Error("a refused orders file changed the ledger")
		}
	})
	const model = `"m": {"description": "d", "count": "activation"}`
	_, err := desk.ParseCatalog([]byte(`{"models": {` + model + `}, "products": [{"code": "a", "name": "A\u001b]0;x\u0007", "model": "m"}]}`))
	if err == nil || !strings.Contains(err.Error(), `product a: name contains the control character \x1b`) {
		t.Errorf("catalog with an ESC in a name: %v", err)
	}
}
