package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// BenchmarkDeskIssueOutDirPhases splits what `oat desk issue --out-dir`
// does with a batch of 1,500 requests into its phases, in process, each
// timed on its own and reported per request as a multiple of the crypto
// bound sampled in the same run (as BenchmarkDeskIssueOutDir reports the
// whole command): "read" reads the request files as the command does,
// "issue" is desk.Issue (verifying every request, the ledger transaction
// and signing every license), "write" writes the licenses with
// atomicfile.WriteBatch, "print" formats the summary. Inside "issue",
// "verify" and "sign" time the two crypto steps alone, spread over the
// CPUs as the desk spreads them (the desk overlaps signing with the
// transaction, so the transaction's own share is at least
// issue − verify − sign). One op is one batch.
//
//	go test -run '^$' -bench DeskIssueOutDirPhases -benchtime 3x ./bench/
func BenchmarkDeskIssueOutDirPhases(b *testing.B) {
	dir := quietDir(b) // as in BenchmarkDeskIssueOutDir
	for _, be := range ledgertest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			deskIssueOutDirPhases(b, be.Name, dir, 1500)
		})
	}
}

func deskIssueOutDirPhases(b *testing.B, backend, scratch string, n int) {
	ctx := context.Background()
	db, _ := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "OUT", Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: desk.MaxSeats}, "bench"); err != nil {
		b.Fatal(err)
	}
	vendor := forge.Key("vendor")
	priv, msg, sig := tbs(b)
	pub := forge.Public(priv)
	dir, err := os.MkdirTemp(scratch, backend+"-")
	if err != nil {
		b.Fatal(err)
	}
	phases := []string{"read", "verify", "issue", "sign", "write", "print"}
	spent := map[string]time.Duration{}
	var crypto time.Duration
	pairs := 0
	timed := func(phase string, f func()) {
		start := time.Now()
		f()
		spent[phase] += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		in := filepath.Join(dir, fmt.Sprintf("in-%d", i))
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		for _, p := range []string{in, out} {
			if err := os.Mkdir(p, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		paths := make([]string, n)
		for j := range paths {
			paths[j] = filepath.Join(in, fmt.Sprintf("r%04d.req", j))
			if err := os.WriteFile(paths[j], benchRequest(b, "OUT"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		inputs := make([]desk.Input, n)
		timed("read", func() {
			for j, p := range paths {
				data, err := atomicfile.ReadCapped(p, signing.MaxFileSize)
				if err != nil {
					b.Fatal(err)
				}
				inputs[j] = desk.Input{Name: p, Data: data}
			}
		})
		timed("verify", func() {
			spread(n, func(j int) {
				if _, _, err := request.Parse(inputs[j].Data); err != nil {
					b.Error(err)
				}
			})
		})
		var issued []desk.Issued
		timed("issue", func() {
			var err error
			if issued, err = d.Issue(ctx, vendor, inputs, desk.IssueOptions{Actor: "bench"}); err != nil {
				b.Fatal(err)
			}
		})
		timed("sign", func() {
			spread(n, func(j int) {
				if _, err := response.Seal(issued[j].License, vendor); err != nil {
					b.Error(err)
				}
			})
		})
		files := make([]atomicfile.File, n)
		for j, is := range issued {
			files[j] = atomicfile.File{Path: filepath.Join(out, fmt.Sprintf("r%04d.license", j)), Data: is.File}
		}
		timed("write", func() {
			if _, err := atomicfile.WriteBatch(files, 0o600, false); err != nil {
				b.Fatal(err)
			}
		})
		timed("print", func() {
			var buf bytes.Buffer
			for j, is := range issued {
				fmt.Fprintf(&buf, "%s: activation %s, license %d (%s), host %s: %s\n",
					files[j].Path, is.Activation, is.Sequence, "new activation", is.License.Host, is.License.Products[0].Code)
			}
		})
		b.StopTimer()
		t, k := cryptoPairs(pub, priv, msg, sig, 20*time.Millisecond)
		crypto, pairs = crypto+t, pairs+k
		b.StartTimer()
	}
	b.StopTimer()
	bound := float64(crypto.Nanoseconds()) / float64(pairs)
	for _, p := range phases {
		per := float64(spent[p].Nanoseconds()) / float64(b.N*n)
		b.ReportMetric(per/bound, p+"-x")
	}
	b.ReportMetric(bound/1e3, "bound-µs")
}

// spread calls f(0) … f(n-1) on GOMAXPROCS goroutines, as the desk
// spreads verifying and signing.
func spread(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
