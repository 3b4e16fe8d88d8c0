// Package tamper holds the tamper matrix: for each kind of oat file, every
// single-bit flip, every truncation, appended bytes, re-signing with a wrong
// key, payloads moved between kinds and changed key IDs, each fed to the
// real verification path of that kind, which must reject every variant
// with a classified error.
package tamper

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
)

// kind is one kind of file with its genuine instance and its verifier.
type kind struct {
	name   string
	label  string
	ctype  string
	file   []byte             // genuine, armored
	signer ed25519.PrivateKey // who legitimately signs this kind
	verify func([]byte) error // the real verification path
}

// classes are the errors a rejection must be one of: each names a reason
// the CLI can print.
var classes = []error{
	signing.ErrTooLarge, signing.ErrMalformed, signing.ErrAlgorithm, signing.ErrCritical,
	signing.ErrKind, signing.ErrSignature, signing.ErrArmor, signing.ErrClaims,
	signing.ErrConfirmation, request.ErrNotSelfSigned, keys.ErrUntrusted,
}

func classified(err error) bool {
	for _, c := range classes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

func kinds(t *testing.T) (*forge.Set, []kind) {
	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	vendors := keys.NewTrustSet(forge.Public(s.Vendor))
	inst := forge.Public(s.Installation)
	return s, []kind{
		{"request", "OAT REQUEST", forge.RequestType, s.Request, s.Installation,
			func(b []byte) error { _, _, err := request.Parse(b); return err }},
		{"license", "OAT LICENSE", forge.LicenseType, s.License, s.Vendor,
			func(b []byte) error { _, err := response.Parse(b, vendors); return err }},
		{"release", "OAT RELEASE", forge.ReleaseType, s.Receipt, s.Installation,
			func(b []byte) error { _, err := release.Parse(b, inst); return err }},
		{"rotation", "OAT ROTATION", signing.Rotation.ContentType(), rotationFile(t, s), s.Vendor,
			func(b []byte) error {
				_, err := rotation.Trust([]ed25519.PublicKey{forge.Public(s.Vendor)}, [][]byte{b})
				return err
			}},
		{"checkin", "OAT CHECKIN", signing.CheckIn.ContentType(), checkInFile(t, s), s.Installation,
			func(b []byte) error { _, err := checkin.ParseCheckIn(b, inst); return err }},
		{"ack", "OAT ACK", signing.Ack.ContentType(), ackFile(t, s), s.Vendor,
			func(b []byte) error { _, err := checkin.ParseAck(b, vendors); return err }},
	}
}

// checkInFile is a check-in by the installation of the set's license.
func checkInFile(t *testing.T, s *forge.Set) []byte {
	data, err := checkin.SealCheckIn(checkin.CheckIn{Activation: s.LicenseClaims.Activation, IssuedAt: 1797000000,
		Nonce: bytes.Repeat([]byte{0xdd}, 16), Sequence: 1}, s.Installation)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ackFile is the desk's acknowledgement of it, carrying the set's license.
func ackFile(t *testing.T, s *forge.Set) []byte {
	_, raw, err := forge.Dearmor(s.License)
	if err != nil {
		t.Fatal(err)
	}
	data, err := checkin.SealAck(checkin.Ack{Issuer: "desk", Activation: s.LicenseClaims.Activation, IssuedAt: 1797000060,
		Nonce: bytes.Repeat([]byte{0xdd}, 16), State: checkin.StateActive, Sequence: 1, License: raw}, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rotationFile is a statement by the vendor key that adds another key.
func rotationFile(t *testing.T, s *forge.Set) []byte {
	st := rotation.Statement{IssuedAt: 1797000000, ID: bytes.Repeat([]byte{0xee}, 16), Add: forge.Public(forge.Key("next vendor"))}
	data, err := rotation.Seal(st, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// variant is one tampered file. Every variant must be rejected, except one
// that differs from the genuine file only in armor white space and so
// decodes to the very same signed bytes: accepting that is correct, and it
// is counted apart.
type variant struct {
	what string
	data []byte
}

func TestTamperMatrix(t *testing.T) {
	s, ks := kinds(t)
	for _, k := range ks {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			if err := k.verify(k.file); err != nil {
				t.Fatalf("the genuine %s does not verify: %v", k.name, err)
			}
			_, raw, err := forge.Dearmor(k.file)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := forge.Split(raw)
			if err != nil {
				t.Fatal(err)
			}
			groups := []struct {
				name     string
				variants []variant
			}{
				{"bit flips (raw)", bitFlips(raw)},
				{"bit flips (armored)", bitFlips(k.file)},
				{"truncations (raw)", truncations(raw)},
				{"truncations (armored)", truncations(k.file)},
				{"appended bytes", appended(k, raw, s)},
				{"wrong key", wrongKeys(k, parts, s)},
				{"kind swaps", kindSwaps(k, ks, parts)},
				{"key ID changes", keyIDChanges(k, parts, s)},
				{"header changes", headerChanges(k, parts, raw)},
				{"payload respellings", respellings(k, parts)},
			}
			total, same := 0, 0
			for _, g := range groups {
				rejected, equivalent := 0, 0
				for _, v := range g.variants {
					err := k.verify(v.data)
					if err == nil {
						if sameSigned(v.data, raw) {
							equivalent++
							continue
						}
						t.Errorf("%s: %s: accepted %q", g.name, v.what, v.data)
						continue
					}
					if !classified(err) || err.Error() == "" {
						t.Errorf("%s: %s: unclassified error %v", g.name, v.what, err)
					}
					rejected++
				}
				t.Logf("%-22s %6d variants, %6d rejected, %3d accepted as the same signed bytes", g.name, len(g.variants), rejected, equivalent)
				total += len(g.variants)
				same += equivalent
			}
			t.Logf("%s: %d variants in all; every one rejected except %d that differ only in armor white space", k.name, total, same)
		})
	}
}

// sameSigned reports whether data, decoded by an independent dearmorer,
// is exactly the genuine raw message.
func sameSigned(data, raw []byte) bool {
	if bytes.Equal(data, raw) {
		return true
	}
	_, got, err := forge.Dearmor(data)
	return err == nil && bytes.Equal(got, raw)
}

func bitFlips(b []byte) []variant {
	out := make([]variant, 0, 8*len(b))
	for i := range b {
		for bit := range 8 {
			v := bytes.Clone(b)
			v[i] ^= 1 << bit
			out = append(out, variant{fmt.Sprintf("byte %d bit %d", i, bit), v})
		}
	}
	return out
}

func truncations(b []byte) []variant {
	out := make([]variant, 0, len(b))
	for n := range len(b) {
		out = append(out, variant{fmt.Sprintf("first %d bytes", n), bytes.Clone(b[:n])})
	}
	return out
}

func appended(k kind, raw []byte, s *forge.Set) []variant {
	var out []variant
	for _, tail := range [][]byte{{0x00}, {0xa0}, {0xf6}, {0xff}, {0xd2}, raw, forge.Bstr(make([]byte, 64))} {
		out = append(out, variant{fmt.Sprintf("raw + %x", tail), append(bytes.Clone(raw), tail...)})
		// The same bytes inside the armor, so the armor is intact.
		out = append(out, variant{fmt.Sprintf("armored raw + %x", tail), forge.Armor(k.label, append(bytes.Clone(raw), tail...))})
	}
	for _, tail := range []string{"\x00", "x", "=", "AAAA\n", "-----END " + k.label + "-----\n", string(k.file), string(s.License), string(s.Request), "\n\n\n\n", " \t"} {
		out = append(out, variant{fmt.Sprintf("armored + %q", tail), append(bytes.Clone(k.file), tail...)})
	}
	// A base64 line slipped in before the END line.
	lines := bytes.Split(bytes.TrimSpace(k.file), []byte("\n"))
	for _, extra := range []string{"AAAA", "0g==", "////"} {
		l := append(append([][]byte{}, lines[:len(lines)-1]...), []byte(extra), lines[len(lines)-1])
		out = append(out, variant{"line " + extra + " before END", bytes.Join(l, []byte("\n"))})
	}
	return out
}

// both returns a re-built message raw and armored with the given label.
func both(what, label string, raw []byte) []variant {
	return []variant{{what + " (raw)", raw}, {what + " (armored)", forge.Armor(label, raw)}}
}

func wrongKeys(k kind, p forge.Parts, s *forge.Set) []variant {
	var out []variant
	others := map[string]ed25519.PrivateKey{"stranger": forge.Key("stranger")}
	if bytes.Equal(k.signer, s.Vendor) {
		others["installation"] = s.Installation
	} else {
		others["vendor"] = s.Vendor
	}
	for name, key := range others {
		// Signed by the wrong key, naming it honestly.
		out = append(out, both("signed by "+name, k.label, forge.Sign(key, k.ctype, p.Payload))...)
		// Signed by the wrong key, naming the right one.
		prot := forge.Protected(forge.AlgEdDSA, k.ctype, forge.KID(k.signer))
		out = append(out, both("signed by "+name+" naming the right key", k.label, forge.SignAs(key, prot, p.Payload))...)
		// The genuine header and payload with the wrong key's signature.
		out = append(out, both("genuine header, signature by "+name, k.label,
			forge.Sign1(p.Protected, p.Payload, ed25519.Sign(key, forge.SigStructure(p.Protected, p.Payload))))...)
	}
	// A signature from the right key over another message.
	otherSig := ed25519.Sign(k.signer, forge.SigStructure(p.Protected, append(bytes.Clone(p.Payload), 0)))
	out = append(out, both("right key, signature of another payload", k.label, forge.Sign1(p.Protected, p.Payload, otherSig))...)
	return out
}

func kindSwaps(k kind, ks []kind, p forge.Parts) []variant {
	var out []variant
	for _, o := range ks {
		if o.name == k.name {
			continue
		}
		_, oraw, _ := forge.Dearmor(o.file)
		op, _ := forge.Split(oraw)
		// The other kind's genuine file, as is and relabelled as this kind.
		out = append(out, variant{"genuine " + o.name, o.file}, variant{"genuine " + o.name + " relabelled", forge.Armor(k.label, oraw)})
		// This file's payload signed as the other kind, by either legitimate signer.
		for _, signer := range []ed25519.PrivateKey{k.signer, o.signer} {
			out = append(out, both("payload signed as "+o.name, o.label, forge.Sign(signer, o.ctype, p.Payload))...)
			out = append(out, both("payload signed as "+o.name+" armored as "+k.name, k.label, forge.Sign(signer, o.ctype, p.Payload))...)
		}
		// The other kind's payload signed as this kind by this kind's signer.
		out = append(out, both(o.name+" payload signed as "+k.name, k.label, forge.Sign(k.signer, k.ctype, op.Payload))...)
	}
	return out
}

func keyIDChanges(k kind, p forge.Parts, s *forge.Set) []variant {
	kid := forge.KID(k.signer)
	ids := map[string][]byte{
		"zero":       make([]byte, 8),
		"one bit":    append([]byte{kid[0] ^ 1}, kid[1:]...),
		"vendor":     forge.KID(s.Vendor),
		"install":    forge.KID(s.Installation),
		"stranger":   forge.KID(forge.Key("stranger")),
		"7 bytes":    kid[:7],
		"9 bytes":    append(bytes.Clone(kid), 0),
		"empty":      {},
		"32 bytes":   forge.Public(k.signer),
		"hex string": []byte(fmt.Sprintf("%x", kid)),
	}
	var out []variant
	for name, id := range ids {
		if bytes.Equal(id, kid) {
			continue
		}
		prot := forge.Protected(forge.AlgEdDSA, k.ctype, id)
		// Header changed, signature kept.
		out = append(out, both("kid "+name+", old signature", k.label, forge.Sign1(prot, p.Payload, p.Signature))...)
		// Header changed and signed again by the right key.
		out = append(out, both("kid "+name+", re-signed", k.label, forge.SignAs(k.signer, prot, p.Payload))...)
	}
	// No key ID at all.
	prot := forge.Map(forge.Int(1), forge.Int(forge.AlgEdDSA), forge.Int(3), forge.Tstr(k.ctype))
	out = append(out, both("no kid, re-signed", k.label, forge.SignAs(k.signer, prot, p.Payload))...)
	// The key ID in the unprotected header instead.
	unprot := append([]byte{0xd2, 0x84}, forge.Bstr(prot)...)
	unprot = append(unprot, forge.Map(forge.Int(4), forge.Bstr(kid))...)
	unprot = append(unprot, forge.Bstr(p.Payload)...)
	unprot = append(unprot, forge.Bstr(ed25519.Sign(k.signer, forge.SigStructure(prot, p.Payload)))...)
	out = append(out, both("kid unprotected", k.label, unprot)...)
	return out
}

func headerChanges(k kind, p forge.Parts, raw []byte) []variant {
	kid := forge.KID(k.signer)
	headers := map[string][]byte{
		"alg -7 (ES256)":    forge.Protected(-7, k.ctype, kid),
		"alg -35":           forge.Protected(-35, k.ctype, kid),
		"alg 0":             forge.Protected(0, k.ctype, kid),
		"no alg":            forge.Map(forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid)),
		"no content type":   forge.Map(forge.Int(1), forge.Int(-8), forge.Int(4), forge.Bstr(kid)),
		"ctype as integer":  forge.Map(forge.Int(1), forge.Int(-8), forge.Int(3), forge.Int(60), forge.Int(4), forge.Bstr(kid)),
		"ctype other case":  forge.Protected(forge.AlgEdDSA, string(bytes.ToUpper([]byte(k.ctype))), kid),
		"ctype plain cbor":  forge.Protected(forge.AlgEdDSA, "application/cbor", kid),
		"unknown crit":      forge.Map(forge.Int(1), forge.Int(-8), forge.Int(2), forge.Array(forge.Int(99)), forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid), forge.Int(99), forge.Int(0)),
		"unknown header":    forge.Map(forge.Int(1), forge.Int(-8), forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid), forge.Int(5), forge.Bstr(make([]byte, 12))),
		"duplicate alg":     forge.Map(forge.Int(1), forge.Int(-8), forge.Int(1), forge.Int(-8), forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid)),
		"header not a map":  forge.Array(forge.Int(1), forge.Int(-8)),
		"empty header":      {},
		"labels reordered":  forge.Map(forge.Int(3), forge.Tstr(k.ctype), forge.Int(1), forge.Int(-8), forge.Int(4), forge.Bstr(kid)),
		"alg in long form":  forge.Map(forge.Int(1), []byte{0x38, 0x07}, forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid)),
		"kid length long":   forge.Map(forge.Int(1), forge.Int(-8), forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), append([]byte{0x58, 0x08}, kid...)),
		"crit names absent": forge.Map(forge.Int(1), forge.Int(-8), forge.Int(2), forge.Array(forge.Int(5)), forge.Int(3), forge.Tstr(k.ctype), forge.Int(4), forge.Bstr(kid)),
	}
	var out []variant
	for name, prot := range headers {
		out = append(out, both(name+", re-signed", k.label, forge.SignAs(k.signer, prot, p.Payload))...)
		out = append(out, both(name+", old signature", k.label, forge.Sign1(prot, p.Payload, p.Signature))...)
	}
	sig := p.Signature
	envelopes := map[string][]byte{
		"untagged":              raw[1:],
		"tag 98 (COSE_Sign)":    append([]byte{0xd8, 0x62}, raw[1:]...),
		"tag 18 twice":          append([]byte{0xd2}, raw...),
		"unprotected not empty": append(append(append([]byte{0xd2, 0x84}, forge.Bstr(p.Protected)...), forge.Map(forge.Int(3), forge.Tstr(k.ctype))...), append(forge.Bstr(p.Payload), forge.Bstr(sig)...)...),
		"detached payload":      append(append(append([]byte{0xd2, 0x84}, forge.Bstr(p.Protected)...), 0xa0, 0xf6), forge.Bstr(sig)...),
		"five elements":         append(append([]byte{0xd2, 0x85}, raw[2:]...), 0x00),
		"signature 63 bytes":    forge.Sign1(p.Protected, p.Payload, sig[:63]),
		"signature 65 bytes":    forge.Sign1(p.Protected, p.Payload, append(bytes.Clone(sig), 0)),
		"signature empty":       forge.Sign1(p.Protected, p.Payload, nil),
		"payload as tstr":       append(append(append([]byte{0xd2, 0x84}, forge.Bstr(p.Protected)...), 0xa0), append(forge.Tstr(string(p.Payload)), forge.Bstr(sig)...)...),
		"length not shortest":   append(append([]byte{0xd2, 0x84, 0x59, 0x00, byte(len(p.Protected))}, p.Protected...), raw[2+len(forge.Bstr(p.Protected)):]...),
	}
	for name, env := range envelopes {
		out = append(out, both(name, k.label, env)...)
	}
	return out
}

// respellings re-sign, with the right key, the same claims spelled another
// way: pairs out of deterministic order, a longer integer or length form,
// and every text claim name in upper case. The spec accepts one spelling.
func respellings(k kind, p forge.Parts) []variant {
	var out []variant
	pl := p.Payload
	if len(pl) < 2 || pl[0]&0xe0 != 0xa0 || pl[0] == 0xbf {
		return nil
	}
	// The first map key written in a one-byte-longer form, when it is a
	// small unsigned integer (a CWT claim).
	if pl[1] < 24 {
		longKey := append([]byte{pl[0], 0x18, pl[1]}, pl[2:]...)
		out = append(out, both("first key in long form", k.label, forge.Sign(k.signer, k.ctype, longKey))...)
	}
	// The whole map's length in the long form.
	longLen := append([]byte{0xb8, pl[0] & 0x1f}, pl[1:]...)
	out = append(out, both("map length in long form", k.label, forge.Sign(k.signer, k.ctype, longLen))...)
	// Each text claim name with its first letter in upper case, the map
	// otherwise deterministic: no claim of the kind has that name.
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	var claims map[any]any
	if err := cbor.Unmarshal(pl, &claims); err != nil {
		return out
	}
	for name := range claims {
		text, ok := name.(string)
		if !ok || text == "" || text[0] < 'a' || text[0] > 'z' {
			continue
		}
		c := maps.Clone(claims)
		c[string(text[0]-('a'-'A'))+text[1:]] = c[name]
		delete(c, name)
		b, err := enc.Marshal(c)
		if err != nil {
			continue
		}
		out = append(out, both("claim "+text+" capitalised", k.label, forge.Sign(k.signer, k.ctype, b))...)
	}
	return out
}
