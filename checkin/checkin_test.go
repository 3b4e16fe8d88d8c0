package checkin_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/signing"
)

var (
	vendor       = forge.Key("vendor")
	installation = forge.Key("installation")
	stranger     = forge.Key("stranger")
)

func sampleCheckIn() checkin.CheckIn {
	return checkin.CheckIn{Activation: "act-0001", IssuedAt: 1767225600, Nonce: bytes.Repeat([]byte{0xdd}, 16), Sequence: 3}
}

func sampleAck(t testing.TB, withLicense bool) checkin.Ack {
	a := checkin.Ack{Issuer: "desk", Activation: "act-0001", IssuedAt: 1767225700, Nonce: bytes.Repeat([]byte{0xdd}, 16),
		State: checkin.StateActive, Sequence: 4}
	if withLicense {
		s, err := forge.NewSet()
		if err != nil {
			t.Fatal(err)
		}
		m, err := signing.Parse(s.License)
		if err != nil {
			t.Fatal(err)
		}
		a.License = m.Raw()
	}
	return a
}

// TestCheckInRoundTrip: a check-in verifies with its installation key only,
// and is of its own kind only.
func TestCheckInRoundTrip(t *testing.T) {
	data, err := checkin.SealCheckIn(sampleCheckIn(), installation)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN OAT CHECKIN-----\n")) {
		t.Fatalf("armor: %q", data[:40])
	}
	c, err := checkin.ParseCheckIn(data, forge.Public(installation))
	if err != nil {
		t.Fatal(err)
	}
	if c.Activation != "act-0001" || c.Sequence != 3 {
		t.Fatalf("%+v", c)
	}
	if _, err := checkin.ParseCheckIn(data, forge.Public(stranger)); !errors.Is(err, signing.ErrSignature) {
		t.Fatalf("refused: another installation's key: %v", err)
	}
	// A release receipt's payload signed as a check-in is not a check-in.
	if _, err := checkin.ParseAck(data, keys.NewTrustSet(forge.Public(installation))); !errors.Is(err, signing.ErrKind) {
		t.Fatalf("refused: check-in read as an acknowledgement: %v", err)
	}
	bad := sampleCheckIn()
	bad.Nonce = bad.Nonce[:8]
	if _, err := checkin.SealCheckIn(bad, installation); err == nil {
		t.Fatal("refused: short nonce")
	}
	bad = sampleCheckIn()
	bad.Sequence = 0
	data, _ = signing.Seal(signing.CheckIn, installation, bad)
	if _, err := checkin.ParseCheckIn(data, forge.Public(installation)); !errors.Is(err, signing.ErrClaims) {
		t.Fatalf("refused: a check-in without a license sequence: %v", err)
	}
}

// TestAckAnswers: an acknowledgement answers only the check-in whose nonce
// it carries, for its activation, in the state expected.
func TestAckAnswers(t *testing.T) {
	trust := keys.NewTrustSet(forge.Public(vendor))
	data, err := checkin.SealAck(sampleAck(t, true), vendor)
	if err != nil {
		t.Fatal(err)
	}
	a, err := checkin.ParseAck(data, trust)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{0xdd}, 16)
	if err := a.Answers("act-0001", nonce, checkin.StateActive); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	if err := a.Answers("act-0001", bytes.Repeat([]byte{0xee}, 16), checkin.StateActive); !errors.Is(err, checkin.ErrNotAnswer) {
		t.Fatalf("refused: another nonce: %v", err)
	}
	if err := a.Answers("act-0002", nonce, checkin.StateActive); !errors.Is(err, checkin.ErrNotAnswer) {
		t.Fatalf("refused: another activation: %v", err)
	}
	if err := a.Answers("act-0001", nonce, checkin.StateReleased); err == nil {
		t.Fatal("refused: active where released was expected")
	}
	if _, err := checkin.ParseAck(data, keys.NewTrustSet(forge.Public(stranger))); !errors.Is(err, keys.ErrUntrusted) {
		t.Fatalf("refused: untrusted vendor: %v", err)
	}
	rel := sampleAck(t, true)
	rel.State = checkin.StateReleased
	if _, err := checkin.SealAck(rel, vendor); !errors.Is(err, signing.ErrClaims) {
		t.Fatalf("refused: a release acknowledgement with a license: %v", err)
	}
	unknown := sampleAck(t, false)
	unknown.State = "suspended"
	if _, err := checkin.SealAck(unknown, vendor); !errors.Is(err, signing.ErrClaims) {
		t.Fatalf("refused: unknown state: %v", err)
	}
}

func seeds(t testing.TB) [][]byte {
	ci, err := checkin.SealCheckIn(sampleCheckIn(), installation)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := checkin.SealAck(sampleAck(t, true), vendor)
	if err != nil {
		t.Fatal(err)
	}
	ack2, err := checkin.SealAck(sampleAck(t, false), vendor)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{ci, ack, ack2}
	for _, f := range []([]byte){ci, ack} {
		m, _ := signing.Parse(f)
		out = append(out, m.Raw())
		for _, ct := range []string{forge.RequestType, forge.LicenseType, forge.ReleaseType, "application/vnd.oat.checkin+cbor", "application/vnd.oat.ack+cbor"} {
			out = append(out, forge.Sign(vendor, ct, m.Payload), forge.Sign(installation, ct, m.Payload))
		}
	}
	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, s.Seeds()...)
	out = append(out, forge.Files("../testdata/vectors", signing.MaxFileSize)...)
	return append(out, forge.Hostile()...)
}

func classified(e error) bool {
	return errors.Is(e, signing.ErrTooLarge) || errors.Is(e, signing.ErrMalformed) ||
		errors.Is(e, signing.ErrAlgorithm) || errors.Is(e, signing.ErrCritical) ||
		errors.Is(e, signing.ErrKind) || errors.Is(e, signing.ErrArmor) ||
		errors.Is(e, signing.ErrClaims) || errors.Is(e, signing.ErrSignature) || errors.Is(e, keys.ErrUntrusted)
}

// FuzzParseCheckIn: no input panics; failures are classified; Peek and
// Parse agree; an accepted check-in is one the installation signed.
func FuzzParseCheckIn(f *testing.F) {
	valid := map[string]bool{}
	for _, s := range seeds(f) {
		f.Add(s)
		if _, err := checkin.ParseCheckIn(s, forge.Public(installation)); err == nil {
			m, _ := signing.Parse(s)
			valid[string(m.Raw())] = true
		}
	}
	if len(valid) == 0 {
		f.Fatal("no valid check-in among the seeds")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		peeked, perr := checkin.PeekCheckIn(data)
		c, err := checkin.ParseCheckIn(data, forge.Public(installation))
		for _, e := range []error{perr, err} {
			if e != nil && !classified(e) {
				t.Fatalf("unclassified error: %v", e)
			}
		}
		if err != nil {
			return
		}
		if perr != nil || peeked.Activation != c.Activation || !bytes.Equal(peeked.Nonce, c.Nonce) {
			t.Fatalf("Peek and Parse disagree: %v", perr)
		}
		m, _ := signing.Parse(data)
		if !valid[string(m.Raw())] {
			t.Fatal("accepted a check-in the installation never signed")
		}
		if _, err := checkin.ParseCheckIn(data, forge.Public(stranger)); err == nil {
			t.Fatal("a check-in verified with another installation's key")
		}
	})
}

// FuzzParseAck: no input panics; failures are classified; an accepted
// acknowledgement is one the vendor signed, well-formed.
func FuzzParseAck(f *testing.F) {
	trust := keys.NewTrustSet(forge.Public(vendor))
	valid := map[string]bool{}
	for _, s := range seeds(f) {
		f.Add(s)
		if _, err := checkin.ParseAck(s, trust); err == nil {
			m, _ := signing.Parse(s)
			valid[string(m.Raw())] = true
		}
	}
	if len(valid) == 0 {
		f.Fatal("no valid acknowledgement among the seeds")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := checkin.ParseAck(data, trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		m, _ := signing.Parse(data)
		if !valid[string(m.Raw())] {
			t.Fatal("accepted an acknowledgement the vendor never signed")
		}
		if a.State != checkin.StateActive && a.State != checkin.StateReleased {
			t.Fatalf("state %q", a.State)
		}
	})
}
