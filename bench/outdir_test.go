package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// BenchmarkDeskIssueOutDir runs the command as an operator types it,
// `oat desk issue --out-dir DIR REQUEST...`, as a process of its own,
// files included: reading the requests, the key, the ledger transaction,
// signing and writing every license. One op is one pair of commands, one
// with 10 requests and one with 1,500; "x-crypto" is the marginal cost of
// a request, (t1500 - t10) / 1490, as a multiple of the crypto bound
// sampled between the commands (goal: at most 2, i.e. half the bound).
//
//	go test -run '^$' -bench DeskIssueOutDir -benchtime 3x -count 3 ./bench/
func BenchmarkDeskIssueOutDir(b *testing.B) {
	// The files of every sub-benchmark stay until the end, and each run
	// makes them in a quiet block group (quietDir): removing thousands of
	// files makes the next ones slower to create on a journal-less ext4
	// such as this machine's, so a run would pay for the cleanup of the
	// one before, or the second backend for the first.
	dir := quietDir(b)
	for _, be := range ledgertest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			deskIssueOutDir(b, be.Name, dir)
		})
	}
}

func deskIssueOutDir(b *testing.B, backend, scratch string) {
	runtime.LockOSThread() // for threadCPU
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	db, dsn := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "OUT", Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: desk.MaxSeats}, "bench"); err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp(scratch, backend+"-")
	if err != nil {
		b.Fatal(err)
	}
	sealed, err := keys.EncryptPrivateKey(forge.Key("vendor"), []byte(benchPassphrase), keys.KDFParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	keyPath := filepath.Join(dir, "vendor.key")
	if err := os.WriteFile(keyPath, sealed, 0o600); err != nil {
		b.Fatal(err)
	}
	priv, msg, sig := tbs(b)
	pub := forge.Public(priv)
	var small, large, crypto, smallCPU, largeCPU, cryptoCPU, smallSys, largeSys time.Duration
	pairs := 0
	run := func(i, n int) (took, cpu, sys time.Duration) {
		in := filepath.Join(dir, fmt.Sprintf("in-%d-%d", i, n))
		out := filepath.Join(dir, fmt.Sprintf("out-%d-%d", i, n))
		for _, p := range []string{in, out} {
			if err := os.Mkdir(p, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		args := []string{"desk", "issue", "--db", dsn, "--key", keyPath, "--out-dir", out}
		for j := range n {
			p := filepath.Join(in, fmt.Sprintf("r%04d.req", j))
			if err := os.WriteFile(p, benchRequest(b, "OUT"), 0o644); err != nil {
				b.Fatal(err)
			}
			args = append(args, p)
		}
		cmd := exec.Command(os.Args[0], args...)
		if w := os.Getenv("OAT_BENCH_STRACE"); w != "" && n > 10 {
			// strace -c -w: where the command's wall time goes.
			cmd = exec.Command("strace", append([]string{"-f", "-c", "-w", "-o", w, os.Args[0]}, args...)...)
		}
		cmd.Env = append(os.Environ(), "OAT_BENCH_CHILD=1", "OAT_PASSPHRASE="+benchPassphrase)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("oat desk issue: %v\n%s", err, stderr.String())
		}
		took = time.Since(start)
		sys = cmd.ProcessState.SystemTime()
		cpu = cmd.ProcessState.UserTime() + sys
		if got, _ := os.ReadDir(out); len(got) != n {
			b.Fatalf("%d licenses written, want %d", len(got), n)
		}
		c0 := threadCPU()
		t, k := cryptoPairs(pub, priv, msg, sig, 20*time.Millisecond)
		cryptoCPU += threadCPU() - c0
		crypto, pairs = crypto+t, pairs+k
		return took, cpu, sys
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// Files are made with the clock stopped; run times only the command.
		b.StartTimer()
		t, c, s := run(i, 10)
		small, smallCPU, smallSys = small+t, smallCPU+c, smallSys+s
		t, c, s = run(i, 1500)
		large, largeCPU, largeSys = large+t, largeCPU+c, largeSys+s
	}
	b.StopTimer()
	marginal := float64((large - small).Nanoseconds()) / float64(b.N) / 1490
	bound := float64(crypto.Nanoseconds()) / float64(pairs)
	b.ReportMetric(marginal/bound, "x-crypto")
	// The same in CPU time, the command's (every thread, user and system)
	// against the bound's: what the work costs, whatever the load on a
	// shared machine does to the wall time.
	marginalCPU := float64((largeCPU - smallCPU).Nanoseconds()) / float64(b.N) / 1490
	b.ReportMetric(marginalCPU/(float64(cryptoCPU.Nanoseconds())/float64(pairs)), "cpu-x-crypto")
	b.ReportMetric(marginal/1e3, "µs/req")
	// The kernel's share of that CPU: on a journal-less ext4, creating a
	// file scans the inodes its block group freed in the last minutes
	// (doc/benchmarks.md), which this shows.
	b.ReportMetric(float64((largeSys-smallSys).Nanoseconds())/float64(b.N)/1490/1e3, "sys-µs/req")
	b.ReportMetric(float64(small.Milliseconds())/float64(b.N), "ms/10req")
	b.StartTimer()
}

// threadCPU is the CPU time of the calling OS thread: with the goroutine
// locked to it (runtime.LockOSThread), the crypto bound's own CPU time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
