package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/request"
)

// perOrder is how many requests each order answers in the desk
// benchmarks: a realistic order has a handful of seats, and a line's
// state is read per issue, so one huge order would measure its size.
const perOrder = 20

// BenchmarkDeskIssue is the desk's issue path end to end, in process:
// parse and verify each request, check it against its order in one ledger
// transaction, record the activation, license and audit entry, commit,
// and sign the license. One op is one request; "x-crypto" is its time as
// a multiple of the crypto bound, one bare Ed25519 Verify plus one Sign,
// timed between the batches of the same run (target: at most 2, i.e. at
// least half the bound, batched on SQLite); "wB/req" is the bytes written
// per request; "stmts/req" the SQL statements per request.
func BenchmarkDeskIssue(b *testing.B) {
	for _, be := range ledgertest.Backends(b) {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.Name, batch), func(b *testing.B) {
				deskIssue(b, be.Name, batch)
			})
		}
	}
}

func deskIssue(b *testing.B, backend string, batch int) {
	ctx := context.Background()
	db, _ := freshLedger(b, backend)
	d := desk.New(db, desk.Options{})
	vendor := forge.Key("vendor")

	// Requests and orders are made before the clock starts.
	n := b.N
	reqs := make([]desk.Input, n)
	for i := range reqs {
		order := fmt.Sprintf("O%d", i/perOrder)
		if i%perOrder == 0 {
			if err := d.AddOrder(ctx, desk.OrderLine{Order: order, Fulfillment: "FN", Email: "it@example.com", Product: "backup-server", Seats: perOrder}, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		reqs[i] = desk.Input{Name: fmt.Sprint(i), Data: benchRequest(b, order)}
	}
	b.ResetTimer()
	written := bytesWritten()
	statements := db.Statements()
	bound := newBoundSampler(b)
	var issuing time.Duration
	for i := 0; i < n; i += batch {
		in := reqs[i:min(i+batch, n)]
		start := time.Now()
		out, err := d.Issue(ctx, vendor, in, desk.IssueOptions{})
		issuing += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != len(in) || len(out[0].File) == 0 {
			b.Fatal("no license")
		}
		bound.after(b, i+batch >= n)
	}
	b.StopTimer()
	perReq := float64(issuing.Nanoseconds()) / float64(n)
	b.ReportMetric(perReq/bound.ns(), "x-crypto")
	b.ReportMetric(1e9/perReq, "req/s")
	// SQL statements per request (BEGIN and COMMIT not counted): on
	// PostgreSQL each is a round trip.
	b.ReportMetric(float64(db.Statements()-statements)/float64(n), "stmts/req")
	if w := bytesWritten(); w >= 0 && written >= 0 {
		// What the database wrote (WAL frames, checkpoints) per request:
		// unlike time, this does not move with the machine's load.
		b.ReportMetric(float64(w-written)/float64(n), "wB/req")
	}
	b.StartTimer()
}

// freshLedger opens a new, initialized ledger of the backend's kind and
// returns it with its DSN.
func freshLedger(b *testing.B, backend string) (*ledger.DB, string) {
	ctx := context.Background()
	dsn := filepath.Join(b.TempDir(), "ledger.db")
	if backend == "postgres" {
		dsn = ledgertest.PostgresSchema(b, os.Getenv("OAT_TEST_POSTGRES"))
	}
	db, err := ledger.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cat, err := desk.ParseCatalog(examples.Catalog())
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := desk.Init(ctx, db, cat); err != nil {
		b.Fatal(err)
	}
	return db, dsn
}

// boundSampler samples the crypto bound between the rounds of a
// benchmark, timer stopped, a few milliseconds after every 20 ms of
// work, so that the work and the bound see the same load on a shared
// machine and ns/op counts only the work.
type boundSampler struct {
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey
	msg, sig []byte
	since    time.Time
	took     time.Duration
	pairs    int
}

func newBoundSampler(b *testing.B) *boundSampler {
	priv, msg, sig := tbs(b)
	return &boundSampler{pub: forge.Public(priv), priv: priv, msg: msg, sig: sig, since: time.Now()}
}

// after is called after each round; last says it was the last one.
func (s *boundSampler) after(b *testing.B, last bool) {
	if time.Since(s.since) < 20*time.Millisecond && !last {
		return
	}
	b.StopTimer()
	t, k := cryptoPairs(s.pub, s.priv, s.msg, s.sig, 4*time.Millisecond)
	s.took, s.pairs = s.took+t, s.pairs+k
	b.StartTimer()
	s.since = time.Now()
}

// ns is the bound: nanoseconds per Verify plus Sign pair.
func (s *boundSampler) ns() float64 { return float64(s.took.Nanoseconds()) / float64(s.pairs) }

// cryptoPairs times bare Verify plus Sign pairs on the license's
// Sig_structure, in runs of ten, for at least d, and returns the time
// taken and the pairs done.
func cryptoPairs(pub ed25519.PublicKey, priv ed25519.PrivateKey, msg, sig []byte, d time.Duration) (time.Duration, int) {
	n, start := 0, time.Now()
	for time.Since(start) < d {
		for range 10 {
			ed25519.Verify(pub, msg, sig)
			ed25519.Sign(priv, msg)
		}
		n += 10
	}
	return time.Since(start), n
}

// benchRequest is a request for order from a new installation.
func benchRequest(b *testing.B, order string) []byte {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return requestFrom(b, priv, order)
}

// requestFrom is a request for order from a random machine, signed by the
// installation key priv.
func requestFrom(b *testing.B, priv ed25519.PrivateKey, order string) []byte {
	d := func() []byte {
		x := make([]byte, machine.DigestSize)
		rand.Read(x)
		return x
	}
	nonce := make([]byte, request.NonceSize)
	rand.Read(nonce)
	fp := machine.Fingerprint{Salt: d(), GUID: d(), UUID: d(), Serial: d(), MACs: [][]byte{d()}, OS: "linux", Class: "server"}
	data, err := request.Seal(request.Request{IssuedAt: time.Now().Unix(), Nonce: nonce, Order: order, Fulfillment: "FN",
		Email: "it@example.com", Host: fmt.Sprintf("h%x", d()[:4]), Machine: fp}, priv)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// bytesWritten is how many bytes this process has passed to write calls
// so far (wchar in /proc/self/io), or -1 where that is not known. In the
// desk benchmarks nearly all of it is SQLite's WAL and checkpoints.
func bytesWritten() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
