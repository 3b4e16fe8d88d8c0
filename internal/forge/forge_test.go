package forge_test

import (
	"bytes"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// The genuine files verify through the real paths, and the hand-written
// CBOR reproduces our encoder's bytes exactly: the two implementations agree.
func TestSetAgreesWithSigning(t *testing.T) {
	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := request.Parse(s.Request); err != nil {
		t.Errorf("request: %v", err)
	}
	if _, err := response.Parse(s.License, keys.NewTrustSet(forge.Public(s.Vendor))); err != nil {
		t.Errorf("license: %v", err)
	}
	if _, err := release.Parse(s.Receipt, forge.Public(s.Installation)); err != nil {
		t.Errorf("receipt: %v", err)
	}
	for _, c := range []struct {
		file  []byte
		label string
		ctype string
		key   []byte
	}{
		{s.Request, "OAT REQUEST", forge.RequestType, forge.KID(s.Installation)},
		{s.License, "OAT LICENSE", forge.LicenseType, forge.KID(s.Vendor)},
		{s.Receipt, "OAT RELEASE", forge.ReleaseType, forge.KID(s.Installation)},
	} {
		label, raw, err := forge.Dearmor(c.file)
		if err != nil || label != c.label {
			t.Fatalf("dearmor: %q %v", label, err)
		}
		if !bytes.Equal(forge.Armor(label, raw), c.file) {
			t.Errorf("%s: forge.Armor differs from signing.Armor", label)
		}
		p, err := forge.Split(raw)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if want := forge.Protected(forge.AlgEdDSA, c.ctype, c.key); !bytes.Equal(p.Protected, want) {
			t.Errorf("%s: protected header %x, hand-written %x", label, p.Protected, want)
		}
		if again := forge.Sign1(p.Protected, p.Payload, p.Signature); !bytes.Equal(again, raw) {
			t.Errorf("%s: re-assembled message differs", label)
		}
		m, err := signing.Parse(raw)
		if err != nil || !bytes.Equal(m.Payload, p.Payload) {
			t.Errorf("%s: signing.Parse disagrees: %v", label, err)
		}
	}
}
