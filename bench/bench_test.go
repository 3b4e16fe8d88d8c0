// Package bench measures oat against the cost of bare Ed25519 in the same
// run: every benchmark of a verifying path reports its time as a multiple
// of one crypto/ed25519 Verify ("x-verify"), every signing path as a
// multiple of one Sign ("x-sign"), so the figures compare across machines.
// Time is never asserted; file sizes are (TestFileSizes).
//
//	go test -run '^$' -bench . -benchmem -count 5 ./bench/ | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat new.txt
package bench

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
)

// Size limits from the issue: what fits a QR code and a paste.
const (
	maxRequestArmored = 1024
	maxLicenseArmored = 2048 // three products
)

func set(b testing.TB) *forge.Set {
	s, err := forge.NewSet()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// tbs is what a license signature covers, so the bare operations work on
// input of the real size.
func tbs(b testing.TB) (ed25519.PrivateKey, []byte, []byte) {
	s := set(b)
	_, raw, err := forge.Dearmor(s.License)
	if err != nil {
		b.Fatal(err)
	}
	p, err := forge.Split(raw)
	if err != nil {
		b.Fatal(err)
	}
	return s.Vendor, forge.SigStructure(p.Protected, p.Payload), p.Signature
}

func BenchmarkEd25519Sign(b *testing.B) {
	priv, msg, _ := tbs(b)
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	priv, msg, sig := tbs(b)
	pub := forge.Public(priv)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("does not verify")
		}
	}
}

// ratio reports the cost of op as a multiple of one bare Ed25519 Verify
// ("x-verify") or Sign ("x-sign") on the license's Sig_structure. The two
// are timed in alternating batches of 20 for 300 ms after the benchmark
// loop, so that a busy machine slows both alike and the ratio stays
// meaningful where absolute times do not. testing.Benchmark cannot be
// called from inside a benchmark, hence the hand-made loop.
func ratio(b *testing.B, unit string, op func()) {
	b.StopTimer()
	defer b.StartTimer()
	priv, msg, sig := tbs(b)
	pub := forge.Public(priv)
	base := func() { ed25519.Verify(pub, msg, sig) }
	if unit == "x-sign" {
		base = func() { ed25519.Sign(priv, msg) }
	}
	var tOp, tBase time.Duration
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		t0 := time.Now()
		for range 20 {
			op()
		}
		t1 := time.Now()
		for range 20 {
			base()
		}
		tOp, tBase = tOp+t1.Sub(t0), tBase+time.Since(t1)
	}
	b.ReportMetric(float64(tOp)/float64(tBase), unit)
}

// BenchmarkLicenseParse is what `oat install` and `oat status` pay: dearmor,
// parse, verify with the vendor trust set and decode a three-product license.
func BenchmarkLicenseParse(b *testing.B) {
	s := set(b)
	trust := keys.NewTrustSet(forge.Public(s.Vendor))
	for b.Loop() {
		if _, err := response.Parse(s.License, trust); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-verify", func() { response.Parse(s.License, trust) })
	b.ReportMetric(float64(len(s.License)), "bytes/file")
}

// BenchmarkLicenseParseRaw is the same from raw CBOR, without the armor.
func BenchmarkLicenseParseRaw(b *testing.B) {
	s := set(b)
	_, raw, _ := forge.Dearmor(s.License)
	trust := keys.NewTrustSet(forge.Public(s.Vendor))
	for b.Loop() {
		if _, err := response.Parse(raw, trust); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-verify", func() { response.Parse(raw, trust) })
	b.ReportMetric(float64(len(raw)), "bytes/file")
}

// BenchmarkRequestParse is the desk's first step for every request.
func BenchmarkRequestParse(b *testing.B) {
	s := set(b)
	for b.Loop() {
		if _, _, err := request.Parse(s.Request); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-verify", func() { request.Parse(s.Request) })
	b.ReportMetric(float64(len(s.Request)), "bytes/file")
}

// BenchmarkReleaseParse is the desk's check of a release receipt.
func BenchmarkReleaseParse(b *testing.B) {
	s := set(b)
	pub := forge.Public(s.Installation)
	for b.Loop() {
		if _, err := release.Parse(s.Receipt, pub); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-verify", func() { release.Parse(s.Receipt, pub) })
	b.ReportMetric(float64(len(s.Receipt)), "bytes/file")
}

// BenchmarkRequestSeal is writing a request (without reading the machine).
func BenchmarkRequestSeal(b *testing.B) {
	s := set(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = request.Seal(s.RequestClaims, s.Installation); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-sign", func() { request.Seal(s.RequestClaims, s.Installation) })
	b.ReportMetric(float64(len(out)), "bytes/file")
}

// BenchmarkLicenseSeal is the signing half of the desk's issue path.
func BenchmarkLicenseSeal(b *testing.B) {
	s := set(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = response.Seal(s.LicenseClaims, s.Vendor); err != nil {
			b.Fatal(err)
		}
	}
	ratio(b, "x-sign", func() { response.Seal(s.LicenseClaims, s.Vendor) })
	b.ReportMetric(float64(len(out)), "bytes/file")
}

// TestFileSizes holds the files to their size limits: a request with every
// optional field and a full machine fingerprint, and a license for three
// products, both armored.
func TestFileSizes(t *testing.T) {
	s := set(t)
	t.Logf("request %d bytes armored (limit %d), license for %d products %d bytes (limit %d), receipt %d bytes",
		len(s.Request), maxRequestArmored, len(s.LicenseClaims.Products), len(s.License), maxLicenseArmored, len(s.Receipt))
	if len(s.Request) > maxRequestArmored {
		t.Errorf("request is %d bytes armored, limit %d", len(s.Request), maxRequestArmored)
	}
	if len(s.LicenseClaims.Products) != 3 {
		t.Fatalf("the sample license has %d products, want 3", len(s.LicenseClaims.Products))
	}
	if len(s.License) > maxLicenseArmored {
		t.Errorf("license for three products is %d bytes armored, limit %d", len(s.License), maxLicenseArmored)
	}
}
