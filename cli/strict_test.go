package cli

import (
	"fmt"
	"os"
	"sort"

	"github.com/fxamacker/cbor/v2"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
)

func init() {
	testCommands["oat-respell"] = func() { os.Exit(testRespell(os.Args[1:])) }
}

// testRespell re-signs a genuine license with the vendor key after
// spelling it another way, to play the customer who wants a decoder that
// is more lenient than the spec (issue 12, finding 6):
//
//	oat-respell claim-case|unsorted-payload|header-reordered|header-long-int KEY IN OUT
//
// claim-case renames the claim "seq" to "Seq" and keeps the payload
// deterministic; unsorted-payload writes the claims in reverse key order;
// header-reordered writes the protected header's labels as 3, 1, 4;
// header-long-int writes alg −8 in a two-byte integer form.
func testRespell(args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "oat-respell:", err); return 1 }
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: oat-respell MODE KEY IN OUT")
		return 2
	}
	priv, err := keys.LoadPrivateKey(args[1], []byte(os.Getenv("OAT_PASSPHRASE")))
	if err != nil {
		return fail(err)
	}
	data, err := os.ReadFile(args[2])
	if err != nil {
		return fail(err)
	}
	label, raw, err := forge.Dearmor(data)
	if err != nil {
		return fail(err)
	}
	p, err := forge.Split(raw)
	if err != nil {
		return fail(err)
	}
	var claims map[any]any
	if err := cbor.Unmarshal(p.Payload, &claims); err != nil {
		return fail(err)
	}
	var ct string
	var hdr map[int64]any
	if err := cbor.Unmarshal(p.Protected, &hdr); err != nil {
		return fail(err)
	}
	ct, _ = hdr[3].(string)
	kid := forge.KID(priv)
	prot, payload := p.Protected, p.Payload
	switch args[0] {
	case "claim-case":
		claims["Seq"] = claims["seq"]
		delete(claims, "seq")
		enc, _ := cbor.CoreDetEncOptions().EncMode()
		if payload, err = enc.Marshal(claims); err != nil {
			return fail(err)
		}
	case "unsorted-payload":
		enc, _ := cbor.CoreDetEncOptions().EncMode()
		type kv struct{ k, v []byte }
		var items []kv
		for k, v := range claims {
			ek, _ := enc.Marshal(k)
			ev, _ := enc.Marshal(v)
			items = append(items, kv{ek, ev})
		}
		sort.Slice(items, func(i, j int) bool { return string(items[i].k) > string(items[j].k) })
		var flat [][]byte
		for _, it := range items {
			flat = append(flat, it.k, it.v)
		}
		payload = forge.Map(flat...)
	case "header-reordered":
		prot = forge.Map(forge.Int(3), forge.Tstr(ct), forge.Int(1), forge.Int(forge.AlgEdDSA), forge.Int(4), forge.Bstr(kid))
	case "header-long-int":
		prot = forge.Map(forge.Int(1), []byte{0x39, 0x00, 0x07}, forge.Int(3), forge.Tstr(ct), forge.Int(4), forge.Bstr(kid))
	default:
		fmt.Fprintln(os.Stderr, "oat-respell: unknown mode", args[0])
		return 2
	}
	if err := os.WriteFile(args[3], forge.Armor(label, forge.SignAs(priv, prot, payload)), 0o644); err != nil {
		return fail(err)
	}
	return 0
}
