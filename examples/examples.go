// Package examples holds the example catalog and orders that ship with oat,
// embedded so that `oat demo` and tests find them from any directory.
package examples

import (
	"bytes"
	_ "embed"
)

//go:embed catalog.json
var catalog []byte

//go:embed orders.json
var orders []byte

// Catalog returns examples/catalog.json: one product per license model of
// the license rules (B2), plus a product installed beside them (A9).
func Catalog() []byte { return bytes.Clone(catalog) }

// Orders returns examples/orders.json, sample orders for `oat desk order import`.
func Orders() []byte { return bytes.Clone(orders) }
