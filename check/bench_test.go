package check_test

import (
	"crypto/ed25519"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// BenchmarkCheck measures the whole check and its parts in one run, as
// ratios to a bare Ed25519 verify of the same license (doc/benchmarks.md):
// verify+decode is response.Parse (armor, envelope, header, deterministic
// encoding, signature, claims), machine is reading the machine and
// comparing it, check is check.Check (all of it, plus the clock mark and
// the trial marker read).
//
//	go test -run '^$' -bench BenchmarkCheck -count 5 ./check
func BenchmarkCheck(b *testing.B) {
	s := newServer(b)
	root := b.TempDir()
	if err := os.CopyFS(root, os.DirFS("../examples/machines/rack01")); err != nil {
		b.Fatal(err)
	}
	id, err := machine.Collect(root)
	if err != nil {
		b.Fatal(err)
	}
	fp, _ := id.Fingerprint(s.salt)
	data, err := response.Seal(response.License{Issuer: "desk", Activation: "act-1", NotBefore: t0.Unix(), IssuedAt: t0.Unix(),
		ID: []byte("0123456789abcdef"), Confirm: signing.NewConfirmation(s.pinned()[0]), Sequence: 1, Host: id.Host, Machine: fp,
		Products: []response.Entitlement{{Code: "backup-server", Order: "O-1", Fulfillment: "FN-1", Model: "server", Seats: 1}}}, s.vendor)
	if err != nil {
		b.Fatal(err)
	}
	s.install(data)
	m, err := signing.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	tbs, sig := sigStructure(b, m.Raw())
	pub := s.pinned()[0]
	trust := keys.NewTrustSet(pub)
	clock := t0.Add(time.Hour)
	opts := &check.Options{Machine: check.MachineAt(root), TrialMarker: s.marker, Now: func() time.Time { return clock }}

	// The parts run interleaved, one after the other in every iteration,
	// so that a busy machine slows them alike and the ratios hold.
	// The parts run interleaved, one after the other in every iteration,
	// and the figures are medians over the iterations: on a busy machine a
	// preempted iteration is an outlier of one part, not a bias of all.
	b.Run("parts", func(b *testing.B) {
		var verify, decode, readMachine, whole []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if !ed25519.Verify(pub, tbs, sig) {
				b.Fatal("does not verify")
			}
			t1 := time.Now()
			if _, err := response.Parse(data, trust); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			id, err := machine.Collect(root)
			if err != nil {
				b.Fatal(err)
			}
			got, _ := id.Fingerprint(s.salt)
			if m, _ := machine.Compare(fp, got); !m.OK {
				b.Fatal(m)
			}
			t3 := time.Now()
			if _, err := check.Check(s.dir, "backup-server", []ed25519.PublicKey{pub}, opts); err != nil {
				b.Fatal(err)
			}
			t4 := time.Now()
			verify, decode = append(verify, t1.Sub(t0)), append(decode, t2.Sub(t1))
			readMachine, whole = append(readMachine, t3.Sub(t2)), append(whole, t4.Sub(t3))
		}
		v, d, m, w := median(verify), median(decode), median(readMachine), median(whole)
		b.ReportMetric(v, "verify-ns")
		b.ReportMetric(d, "verify+decode-ns")
		b.ReportMetric(m, "machine-ns")
		b.ReportMetric(w, "check-ns")
		b.ReportMetric(d/v, "verify+decode/verify")
		b.ReportMetric(w/v, "check/verify")
		b.ReportMetric(m/w, "machine-share")
	})
	// Each call an hour later, as a product checking every hour: the
	// clock's high-water mark is written (and synced) every time.
	b.Run("whole-check-hourly", func(b *testing.B) {
		for b.Loop() {
			clock = clock.Add(time.Hour)
			if _, err := check.Check(s.dir, "backup-server", []ed25519.PublicKey{pub}, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func median(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Nanoseconds())
}

// sigStructure returns the bytes a license's signature is over (RFC 9052
// §4.4) and the signature, from the raw COSE_Sign1 message.
func sigStructure(b *testing.B, raw []byte) ([]byte, []byte) {
	b.Helper()
	// 0xd2 0x84, then the protected bstr, the empty map, the payload bstr
	// and the 64-byte signature: split with the bstr headers' lengths.
	rest := raw[2:]
	prot, rest := bstr(b, rest)
	rest = rest[1:] // 0xa0
	payload, rest := bstr(b, rest)
	sig, _ := bstr(b, rest)
	tbs := []byte{0x84, 0x6a}
	tbs = append(tbs, "Signature1"...)
	tbs = appendBstr(tbs, prot)
	tbs = append(tbs, 0x40)
	tbs = appendBstr(tbs, payload)
	return tbs, sig
}

func bstr(b *testing.B, p []byte) ([]byte, []byte) {
	n, h := 0, 0
	switch ai := p[0] & 0x1f; {
	case ai < 24:
		n, h = int(ai), 1
	case ai == 24:
		n, h = int(p[1]), 2
	case ai == 25:
		n, h = int(p[1])<<8|int(p[2]), 3
	default:
		b.Fatalf("unexpected length form %x", p[0])
	}
	return p[h : h+n], p[h+n:]
}

func appendBstr(dst, v []byte) []byte {
	switch n := len(v); {
	case n < 24:
		dst = append(dst, 0x40|byte(n))
	case n < 256:
		dst = append(dst, 0x58, byte(n))
	default:
		dst = append(dst, 0x59, byte(n>>8), byte(n))
	}
	return append(dst, v...)
}
