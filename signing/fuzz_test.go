package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

// sentinels are the errors every decoding failure must be one of, so that
// callers can always say what is wrong with a file.
var sentinels = []error{
	signing.ErrTooLarge, signing.ErrMalformed, signing.ErrAlgorithm, signing.ErrCritical,
	signing.ErrKind, signing.ErrSignature, signing.ErrArmor, signing.ErrClaims,
}

func classified(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// fuzzSetup adds every seed to f: the genuine files, wrong-kind signings,
// the test vectors in testdata/ and the hostile inputs. It returns the keys
// that signed the forged seeds by ID, and the raw bytes of every seed that
// verifies with one of them: the only signed messages that exist.
func fuzzSetup(f *testing.F) (known map[keys.ID]ed25519.PublicKey, genuine map[string]bool) {
	s, err := forge.NewSet()
	if err != nil {
		f.Fatal(err)
	}
	known = map[keys.ID]ed25519.PublicKey{}
	for _, k := range []ed25519.PrivateKey{s.Vendor, s.Installation} {
		pub := forge.Public(k)
		known[keys.KeyID(pub)] = pub
	}
	seeds := s.Seeds()
	seeds = append(seeds, forge.Files("../testdata/vectors", signing.MaxFileSize)...)
	seeds = append(seeds, forge.Hostile()...)
	genuine = map[string]bool{}
	for _, seed := range seeds {
		f.Add(seed)
		if m, err := signing.Parse(seed); err == nil {
			if k, ok := known[m.KeyID]; ok && m.Verify(k) == nil {
				genuine[string(m.Raw())] = true
			}
		}
	}
	return known, genuine
}

// FuzzUnarmor: no input panics; every failure is ErrArmor; whatever
// unarmors re-armors to text that unarmors to the same kind and bytes.
func FuzzUnarmor(f *testing.F) {
	fuzzSetup(f)
	f.Add([]byte("-----BEGIN OAT LICENSE-----\r\n\r\n-----END OAT LICENSE-----\r\n"))
	f.Add([]byte("\xef\xbb\xbf  -----BEGIN OAT RELEASE-----\n0g==\n-----END OAT RELEASE-----"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, raw, err := signing.Unarmor(data)
		if err != nil {
			if !errors.Is(err, signing.ErrArmor) {
				t.Fatalf("error is not ErrArmor: %v", err)
			}
			return
		}
		if kind.ArmorLabel() == "" {
			t.Fatalf("unarmored to unknown kind %d", kind)
		}
		again := signing.Armor(kind, raw)
		k2, raw2, err := signing.Unarmor(again)
		if err != nil || k2 != kind || !bytes.Equal(raw, raw2) {
			t.Fatalf("re-armoring does not round-trip: %v", err)
		}
		if !bytes.Equal(signing.Armor(k2, raw2), again) {
			t.Fatal("Armor is not deterministic")
		}
	})
}

// FuzzParse: no input panics; every failure is one of the sentinel errors;
// a parsed message re-parses identically from its raw bytes and from
// re-armored text; it never verifies with a random key; and it verifies
// with a known key only if it is byte for byte one of the genuine files:
// mutation never yields a second valid encoding of a signed message.
func FuzzParse(f *testing.F) {
	known, genuine := fuzzSetup(f)
	if len(genuine) < 3 {
		f.Fatalf("only %d genuine seeds", len(genuine))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := signing.Parse(data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if m.Kind.ContentType() == "" {
			t.Fatalf("parsed a message of unknown kind %d", m.Kind)
		}
		if len(m.Raw()) > signing.MaxMessageSize {
			t.Fatalf("accepted a %d-byte message", len(m.Raw()))
		}
		for _, form := range [][]byte{m.Raw(), signing.Armor(m.Kind, m.Raw())} {
			m2, err := signing.Parse(form)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if m2.Kind != m.Kind || m2.KeyID != m.KeyID || !bytes.Equal(m2.Payload, m.Payload) || !bytes.Equal(m2.Raw(), m.Raw()) {
				t.Fatal("re-parse gives a different message")
			}
		}
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		if m.Verify(pub) == nil {
			t.Fatal("verified with a random key")
		}
		if k, ok := known[m.KeyID]; ok && m.Verify(k) == nil && !genuine[string(m.Raw())] {
			t.Fatalf("a mutated message verifies: %x", m.Raw())
		}
	})
}

// FuzzHeader drives the protected-header checks with messages that carry a
// valid signature over whatever header the fuzzer writes: a header that
// parses must name the kind and key the checks say, and the message then
// verifies exactly when the header names the key that signed it.
func FuzzHeader(f *testing.F) {
	signer := forge.Key("vendor")
	kid := forge.KID(signer)
	f.Add(forge.Protected(forge.AlgEdDSA, forge.LicenseType, kid), []byte{0xa0})
	f.Add(forge.Protected(forge.AlgEdDSA, forge.RequestType, kid[:7]), []byte{0xa0})
	f.Add(forge.Map(forge.Int(1), forge.Int(-8), forge.Int(2), forge.Array(forge.Int(3)), forge.Int(3), forge.Tstr(forge.ReleaseType), forge.Int(4), forge.Bstr(kid)), []byte{0xa0})
	f.Add(forge.Map(forge.Int(1), forge.Int(-7), forge.Int(3), forge.Int(42), forge.Int(4), forge.Bstr(kid)), []byte{0xa1, 0x01, 0x00})
	f.Add(forge.Map(forge.Int(3), forge.Tstr(forge.LicenseType), forge.Int(1), forge.Int(-8), forge.Int(4), forge.Bstr(kid)), []byte{})
	f.Fuzz(func(t *testing.T, protected, payload []byte) {
		raw := forge.SignAs(signer, protected, payload)
		m, err := signing.Parse(raw)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		verr := m.Verify(forge.Public(signer))
		if named := bytes.Equal(m.KeyID[:], kid); named != (verr == nil) {
			t.Fatalf("header names signer: %v, verify: %v", named, verr)
		}
		other := forge.Public(forge.Key("other"))
		if m.Verify(other) == nil {
			t.Fatal("verified with another key")
		}
		if m.Expect(m.Kind) != nil {
			t.Fatal("Expect rejects the message's own kind")
		}
	})
}

// FuzzDeterministic: no input panics; every failure is ErrNotDeterministic;
// whatever passes decodes and encodes back to exactly the same bytes, so a
// second spelling of one item can never pass.
func FuzzDeterministic(f *testing.F) {
	for _, s := range [][]byte{{0xa0}, {0xa1, 0x01, 0x02}, {0xa2, 0x02, 0x00, 0x01, 0x00}, {0x18, 0x01}, {0xb8, 0x00}, {0x9f, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := signing.Deterministic(data)
		if err != nil {
			if !errors.Is(err, signing.ErrNotDeterministic) {
				t.Fatalf("unclassified error %v", err)
			}
			// Nothing the reference (decode under the hardened rules,
			// encode again, compare) accepts is refused, floats apart.
			if v, ok := reencodes(data); ok && !hasFloat(v) && !hasBigNegative(v) {
				t.Fatalf("refused %x, which is its own deterministic encoding: %v", data, err)
			}
			return
		}
		var v any
		if err := cbor.Unmarshal(data, &v); err != nil {
			t.Fatalf("accepted %x, which does not decode: %v", data, err)
		}
		enc, _ := cbor.CoreDetEncOptions().EncMode()
		again, err := enc.Marshal(v)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, whose deterministic encoding is %x (%v)", data, again, err)
		}
	})
}

// reencodes is the reference Deterministic: decode generically under the
// hardened rules, keeping integers as written, and encode again.
func reencodes(data []byte) (any, bool) {
	dm, err := cbor.DecOptions{
		DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden, TagsMd: cbor.TagsForbidden,
		MaxNestedLevels: signing.MaxNesting, MaxArrayElements: signing.MaxArrayElements, MaxMapPairs: signing.MaxMapPairs,
		UTF8: cbor.UTF8RejectInvalid, IntDec: cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	var v any
	if err := dm.Unmarshal(data, &v); err != nil {
		return nil, false
	}
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	again, err := enc.Marshal(v)
	return v, err == nil && bytes.Equal(again, data)
}

// hasBigNegative reports an integer below -2^63, which Deterministic
// refuses as no oat claim can hold one.
func hasBigNegative(v any) bool {
	switch x := v.(type) {
	case big.Int:
		return x.Sign() < 0 && !x.IsInt64()
	case *big.Int:
		return x.Sign() < 0 && !x.IsInt64()
	case []any:
		for _, e := range x {
			if hasBigNegative(e) {
				return true
			}
		}
	case map[any]any:
		for k, e := range x {
			if hasBigNegative(k) || hasBigNegative(e) {
				return true
			}
		}
	}
	return false
}

func hasFloat(v any) bool {
	switch x := v.(type) {
	case float32, float64:
		return true
	case []any:
		for _, e := range x {
			if hasFloat(e) {
				return true
			}
		}
	case map[any]any:
		for k, e := range x {
			if hasFloat(k) || hasFloat(e) {
				return true
			}
		}
	}
	return false
}
