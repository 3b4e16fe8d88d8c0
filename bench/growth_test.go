package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// BenchmarkIssueGrowth is the cost of one more activation on an order
// that already holds prefill of them: the desk's issue path, one request
// per transaction (the portal's path), on one order. The order is filled
// before the clock starts, straight through the ledger in bulk (the
// counters included), since signing a hundred thousand licenses would
// take longer than the benchmark. "x-crypto" is per request, against the
// crypto bound sampled in the same run; the goal is that the figure at
// 10,000 is at most 1.25 times the figure at 0.
//
//	go test -run '^$' -bench IssueGrowth -benchtime 400x -count 3 ./bench/
func BenchmarkIssueGrowth(b *testing.B) {
	for _, be := range ledgertest.Backends(b) {
		for _, prefill := range []int{0, 1000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/prefill=%d", be.Name, prefill), func(b *testing.B) {
				issueGrowth(b, be.Name, prefill)
			})
		}
	}
}

// prefillOrder gives order n activations of product, in bulk through the
// ledger: rows as the desk writes them (an activation, its allocation and
// its license), with the counters kept.
func prefillOrder(b *testing.B, db *ledger.DB, order, product string, n int) {
	ctx := context.Background()
	const chunk = 5000
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		err := db.Update(ctx, func(tx *ledger.Tx) error {
			acts := make([]ledger.Activation, k)
			allocs := make([]ledger.Allocation, k)
			lics := make([]ledger.License, k)
			now := time.Now().Unix()
			for i := range k {
				key, fp, nonce, cti := make([]byte, 32), make([]byte, 200), make([]byte, 16), make([]byte, 16)
				rand.Read(key)
				rand.Read(fp)
				rand.Read(nonce)
				rand.Read(cti)
				id := fmt.Sprintf("act-prefill-%08d", done+i)
				acts[i] = ledger.Activation{ID: id, InstallKey: key, MachineHash: fmt.Sprintf("%x", fp[:32]), Machine: fp,
					Host: fmt.Sprintf("host-%d", done+i), Email: "it@example.com", Method: "offline", Seq: 1, State: "active",
					Created: now, Updated: now}
				allocs[i] = ledger.Allocation{Activation: id, Order: order, Product: product, Pool: ledger.DefaultPool, Units: 1, Created: now}
				lics[i] = ledger.License{Activation: id, Seq: 1, ID: cti, Nonce: nonce, Claims: fp, Issued: now}
			}
			if err := tx.InsertActivations(ctx, acts); err != nil {
				return err
			}
			if err := tx.InsertAllocations(ctx, allocs); err != nil {
				return err
			}
			return tx.InsertLicenses(ctx, lics)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func issueGrowth(b *testing.B, backend string, prefill int) {
	ctx := context.Background()
	db, _ := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "BIG", Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: desk.MaxSeats}, "bench"); err != nil {
		b.Fatal(err)
	}
	prefillOrder(b, db, "BIG", "backup-server", prefill)
	vendor := forge.Key("vendor")
	n := b.N
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = benchRequest(b, "BIG")
	}
	bound := newBoundSampler(b)
	b.ResetTimer()
	var issuing time.Duration
	for i := range n {
		start := time.Now()
		if _, err := d.IssueOne(ctx, vendor, "r", reqs[i], desk.IssueOptions{}); err != nil {
			b.Fatal(err)
		}
		issuing += time.Since(start)
		bound.after(b, i == n-1)
	}
	b.StopTimer()
	perReq := float64(issuing.Nanoseconds()) / float64(n)
	b.ReportMetric(perReq/bound.ns(), "x-crypto")
	b.ReportMetric(1e9/perReq, "req/s")
	v, err := d.Show(ctx, "BIG")
	if err != nil {
		b.Fatal(err)
	}
	if v.Used != int64(prefill+n) {
		b.Fatalf("order BIG has %d seats in use, want %d", v.Used, prefill+n)
	}
	b.StartTimer()
}
