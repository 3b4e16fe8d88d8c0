package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// checkInServers is how many online activations the check-ins come from,
// round robin, so that the ledger reads are not all of one row.
const checkInServers = 200

// BenchmarkCheckIn is the desk's side of `oat refresh` (A5), the
// high-volume path of a vendor with many online servers, in process:
// parse the check-in, read the activation (one read transaction), verify
// the installation's signature, sign the acknowledgement. One op is one
// check-in; "x-crypto" is its time as a multiple of the crypto bound, one
// bare Ed25519 Verify plus one Sign, sampled between the check-ins of the
// same run. "current": the server holds the newest license; "behind": it
// holds an older one, and the acknowledgement carries the newest, signed
// again (a second Sign, and a second read).
func BenchmarkCheckIn(b *testing.B) {
	for _, be := range ledgertest.Backends(b) {
		for _, behind := range []bool{false, true} {
			name := "current"
			if behind {
				name = "behind"
			}
			b.Run(be.Name+"/"+name, func(b *testing.B) { checkIns(b, be.Name, behind) })
		}
	}
}

func checkIns(b *testing.B, backend string, behind bool) {
	ctx := context.Background()
	db, _ := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	vendor := forge.Key("vendor")
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "O", Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: checkInServers}, "bench"); err != nil {
		b.Fatal(err)
	}
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "O2", Fulfillment: "FN2", Email: "it@example.com", Product: "replica-server", Seats: checkInServers}, "bench"); err != nil {
		b.Fatal(err)
	}
	// The online activations, and one check-in from each, before the clock.
	files := make([][]byte, checkInServers)
	for i := range files {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		is, err := d.IssueOne(ctx, vendor, "r", requestFrom(b, priv, "O"), desk.IssueOptions{Method: desk.Online})
		if err != nil {
			b.Fatal(err)
		}
		if behind {
			if _, err := d.Update(ctx, vendor, is.Activation, desk.Change{AddOrder: "O2", Fulfillment: "FN2"}); err != nil {
				b.Fatal(err)
			}
		}
		nonce := make([]byte, checkin.NonceSize)
		rand.Read(nonce)
		if files[i], err = checkin.SealCheckIn(checkin.CheckIn{Activation: is.Activation, IssuedAt: time.Now().Unix(), Nonce: nonce, Sequence: is.Sequence}, priv); err != nil {
			b.Fatal(err)
		}
	}
	bound := newBoundSampler(b)
	var work time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, a, err := d.CheckIn(ctx, vendor, files[i%len(files)])
		work += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if behind != (len(a.License) > 0) {
			b.Fatal("the acknowledgement carries the wrong license")
		}
		bound.after(b, i == b.N-1)
	}
	b.StopTimer()
	per := float64(work.Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/bound.ns(), "x-crypto")
	b.ReportMetric(1e9/per, "checkins/s")
	b.StartTimer()
}
