package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/cli"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// TestMain lets the portal benchmark run `oat portal` as a process of its
// own, this test binary re-executed: the portal's CPU time and memory
// are then its own, read from /proc, and the clients reach it over
// loopback HTTP as operators do.
func TestMain(m *testing.M) {
	if os.Getenv("OAT_BENCH_CHILD") == "1" {
		// $OAT_BENCH_CPUPROFILE profiles the child, for the profiles
		// doc/benchmarks.md cites.
		if path := os.Getenv("OAT_BENCH_CPUPROFILE"); path != "" {
			if f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid())); err == nil {
				pprof.StartCPUProfile(f)
			}
		}
		code := cli.Main(append([]string{"oat"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// portalClients is how many operators post at once.
const portalClients = 32

// BenchmarkPortal posts genuine request files to `oat portal`
// (POST /v1/activations) from 32 concurrent clients over loopback HTTP,
// all on one order, and checks every answer is a license. One op is one
// activation. "x-crypto" is the wall time per activation as a multiple of
// the crypto bound (one bare Ed25519 Verify plus Sign on one goroutine),
// sampled between rounds of the same run; its inverse is the fraction of
// the bound the portal reaches (goal: at least 0.3 on SQLite, 0.15 on
// PostgreSQL). "cpu-ms/act" is the portal process's CPU time per
// activation, "rss-MB" its peak resident memory (VmHWM), "503s" the
// answers that were not the real one.
//
//	go test -run '^$' -bench Portal -benchtime 3000x -count 3 ./bench/
func BenchmarkPortal(b *testing.B) {
	for _, be := range ledgertest.Backends(b) {
		b.Run(fmt.Sprintf("%s/clients=%d", be.Name, portalClients), func(b *testing.B) {
			portalLoad(b, be.Name, portalClients)
		})
	}
}

// BenchmarkPortalLone is one client posting one request at a time: the
// latency of a lone request, which group commit must not make worse.
func BenchmarkPortalLone(b *testing.B) {
	for _, be := range ledgertest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			portalLoad(b, be.Name, 1)
		})
	}
}

const benchPassphrase = "bench passphrase"

func portalLoad(b *testing.B, backend string, clients int) {
	ctx := context.Background()
	db, dsn := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "LOAD", Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: desk.MaxSeats}, "bench"); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	vendor := forge.Key("vendor")
	sealed, err := keys.EncryptPrivateKey(vendor, []byte(benchPassphrase), keys.KDFParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	keyPath := filepath.Join(dir, "vendor.key")
	if err := os.WriteFile(keyPath, sealed, 0o600); err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	cmd := exec.Command(os.Args[0], "portal", "--db", dsn, "--key", keyPath, "--listen", addr,
		"--rate", "1e9", "--burst", "1000000")
	cmd.Env = append(os.Environ(), "OAT_BENCH_CHILD=1", "OAT_PASSPHRASE="+benchPassphrase)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		// SIGTERM: the portal stops cleanly (and writes its profile).
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: time.Minute}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 20*time.Second {
			b.Fatalf("the portal did not start: %v\n%s", err, logs.String())
		}
	}

	n := b.N
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = benchRequest(b, "LOAD")
	}
	priv, msg, sig := tbs(b)
	pub := forge.Public(priv)
	cpu0 := procCPU(b, cmd.Process.Pid)
	b.ResetTimer()
	// Rounds of a few hundred requests over all clients, the bound sampled
	// between them while the portal is idle, so that both see the same
	// machine; the time counts only the rounds.
	var loading, crypto time.Duration
	var pairs int
	var unavailable, failed atomic.Int64
	var firstErr atomic.Value
	round := clients * 16
	for i := 0; i < n; i += round {
		batch := reqs[i:min(i+round, n)]
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Go(func() {
				for j := int(next.Add(1) - 1); j < len(batch); j = int(next.Add(1) - 1) {
					status, body, err := post(client, base+"/v1/activations", batch[j])
					switch {
					case err != nil:
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					case status == http.StatusServiceUnavailable:
						unavailable.Add(1)
					case status != http.StatusOK || !bytes.Contains(body, []byte("BEGIN OAT LICENSE")):
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", status, body))
					}
				}
			})
		}
		wg.Wait()
		loading += time.Since(start)
		b.StopTimer()
		t, k := cryptoPairs(pub, priv, msg, sig, 10*time.Millisecond)
		crypto, pairs = crypto+t, pairs+k
		b.StartTimer()
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed, the first: %v\n%s", failed.Load(), firstErr.Load(), logs.String())
	}
	perAct := float64(loading.Nanoseconds()) / float64(n)
	bound := float64(crypto.Nanoseconds()) / float64(pairs)
	b.ReportMetric(perAct/bound, "x-crypto")
	b.ReportMetric(bound/perAct, "of-bound")
	b.ReportMetric(1e9/perAct, "act/s")
	b.ReportMetric(float64(procCPU(b, cmd.Process.Pid)-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/act")
	b.ReportMetric(float64(procHWM(b, cmd.Process.Pid))/(1<<20), "rss-MB")
	b.ReportMetric(float64(unavailable.Load()), "503s")
	v, err := d.Show(ctx, "LOAD")
	if err != nil {
		b.Fatal(err)
	}
	if v.Used != int64(n)-unavailable.Load() {
		b.Fatalf("order LOAD has %d seats in use after %d licenses", v.Used, int64(n)-unavailable.Load())
	}
	b.StartTimer()
}

func post(c *http.Client, url string, body []byte) (int, []byte, error) {
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// freeAddr is a loopback address no one listens on.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// procCPU is a process's user plus system CPU time so far.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// procHWM is a process's peak resident memory in bytes.
func procHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}
