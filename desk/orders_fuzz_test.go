package desk_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
)

// FuzzParseOrders: no input panics, and an orders file that parses
// re-encodes to one that parses to the very same lines (nothing read is
// lost or invented, whatever duplicate keys or odd spacing it came with).
func FuzzParseOrders(f *testing.F) {
	f.Add(examples.Orders())
	f.Add([]byte(`{"orders":[{"order":"O","fulfillment":"F","email":"","product":"backup-server","seats":1,"expires":"2027-01-01"}]}`))
	f.Add([]byte(`{"orders":[{"order":"O","order":"P"}]}`))
	f.Add([]byte(`{"orders":[{"seats":1e300}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := desk.ParseOrders(data)
		if err != nil {
			if lines != nil {
				t.Fatal("lines returned with an error")
			}
			return
		}
		again, err := json.Marshal(map[string]any{"orders": lines})
		if err != nil {
			t.Fatal(err)
		}
		back, err := desk.ParseOrders(again)
		if err != nil {
			t.Fatalf("re-encoded orders do not parse: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(back, lines) {
			t.Fatalf("orders change through encode and parse:\n%+v\n%+v", lines, back)
		}
	})
}
