package stress

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to inspect the ledger from outside

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/store"
)

// runs is how many times each operation is killed; the race detector
// makes every process several times slower, so it gets fewer.
func runs() int {
	switch {
	case testing.Short():
		return 30
	case raceEnabled:
		return 80
	}
	return 150
}

// server is an isolated server's store with two co-installed products,
// on a fake machine, and the licenses the desk issued for it.
type server struct {
	dir, store string
	products   []string // settings directories
	env        []string
	opts       store.Options
	vendor     *keys.TrustSet
	inst       []byte // installation public key
	licenses   [][]byte
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	copyTree(t, "../examples/machines/rack01", root)
	s := &server{dir: dir, store: filepath.Join(dir, "store"),
		products: []string{filepath.Join(dir, "products", "backup"), filepath.Join(dir, "products", "replica")},
		env:      []string{"OAT_SYSROOT=" + root},
		opts:     store.Options{Root: root, TrialMarker: filepath.Join(root, "var", "lib", "oat", "trial"), KDF: cheap},
	}
	vendor := vendorKey(t, filepath.Join(dir, "vendor"))
	s.vendor = keys.NewTrustSet(vendor.Public().(ed25519.PublicKey))
	if err := store.Init(s.store, []ed25519.PublicKey{vendor.Public().(ed25519.PublicKey)}, []byte(passphrase), s.opts); err != nil {
		t.Fatal(err)
	}
	st := s.open(t)
	s.inst = st.PublicKey()
	for _, p := range s.products {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, code := range []string{"backup-server", "replica-server"} {
		if _, err := st.AddProduct(code, s.products[i]); err != nil {
			t.Fatal(err)
		}
	}
	reqPath := filepath.Join(dir, "request.oat")
	if _, err := st.WriteRequest(reqPath, store.RequestInfo{Order: "O1", Fulfillment: "FN1", Email: "it@example.com"}, []byte(passphrase)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	d, _ := newDesk(t, filepath.Join(dir, "ledger.db"))
	for _, code := range []string{"backup-server", "replica-server"} {
		if err := d.AddOrder(ctx, desk.OrderLine{Order: "O1", Fulfillment: "FN1", Email: "it@example.com", Product: code, Seats: 5}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	req, err := os.ReadFile(reqPath)
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.IssueOne(ctx, vendor, "request.oat", req, desk.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.Update(ctx, vendor, first.Activation, desk.Change{Reissue: true})
	if err != nil {
		t.Fatal(err)
	}
	s.licenses = [][]byte{first.File, second.File}
	for i, l := range s.licenses {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("license-%d.oat", i+1)), l, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *server) open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(s.store, s.opts)
	if err != nil {
		t.Fatalf("the store does not open after the crash: %v", err)
	}
	return st
}

// known returns the sequence number of a complete license file, or 0.
func (s *server) known(b []byte) uint64 {
	for i, l := range s.licenses {
		if bytes.Equal(b, l) {
			return uint64(i + 1)
		}
	}
	return 0
}

// check verifies the store's invariants: it opens, holds license seq (one
// of allowed) exactly as issued, every product copy on disk is a complete
// license, and products sync brings every copy in line. It returns the
// installed sequence, 0 for none.
func (s *server) check(t *testing.T, allowed ...uint64) uint64 {
	t.Helper()
	st := s.open(t)
	var seq uint64
	if in := st.Installed(); in != nil {
		seq = in.Sequence
		data, err := st.LicenseData()
		if err != nil {
			t.Fatalf("license %d is recorded but unreadable: %v", seq, err)
		}
		if s.known(data) != seq {
			t.Fatalf("the store records license %d but holds other bytes (torn?)", seq)
		}
		if _, _, err := st.License(); err != nil {
			t.Fatalf("the installed license does not verify: %v", err)
		}
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == seq
	}
	if !ok {
		t.Fatalf("the store holds license %d, want one of %v", seq, allowed)
	}
	for _, p := range s.products {
		b, err := os.ReadFile(filepath.Join(p, store.CopyFile))
		if err == nil && s.known(b) == 0 {
			t.Fatalf("product copy %s is not a complete license (%d bytes)", p, len(b))
		}
	}
	st.Close() // the lock, for the oat process below
	if out, err := run(t, s.env, "products", "sync", "--store", s.store); err != nil {
		t.Fatalf("oat products sync cannot repair the copies: %v\n%s", err, out)
	}
	again := s.open(t)
	defer again.Close()
	for _, c := range again.Copies() {
		if !c.InSync {
			t.Fatalf("after oat products sync, %s: %s", c.Code, c.Problem)
		}
	}
	return seq
}

// duration measures how long a complete run of the operation takes.
func duration(t *testing.T, prepare func(), op func() ([]byte, error)) time.Duration {
	t.Helper()
	var best time.Duration
	for range 3 {
		prepare()
		start := time.Now()
		if out, err := op(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best
}

// delay is uniform over [from·d, 1.3d]: kills land before, during and
// after the operation.
func delay(rng *mrand.Rand, d time.Duration, from float64) time.Duration {
	lo := time.Duration(float64(d) * from)
	return lo + time.Duration(rng.Int64N(int64(d)*13/10-int64(lo)))
}

// TestKillInstall kills `oat install` of license 2 over license 1 at
// random moments: the store holds 1 or 2, whole, and sync repairs copies.
func TestKillInstall(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	st := s.open(t)
	if _, err := st.Install(s.licenses[0]); err != nil {
		t.Fatal(err)
	}
	st.Close()
	snap := take(t, append([]string{s.store}, s.products...)...)
	lic2 := filepath.Join(s.dir, "license-2.oat")
	install := func() ([]byte, error) { return run(t, s.env, "install", "--store", s.store, lic2) }
	d := duration(t, func() { snap.restore(t) }, install)

	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	counts := map[uint64]int{}
	killed := 0
	for range runs() {
		snap.restore(t)
		k, out, err := runKilled(t, delay(rng, d, 0), s.env, "install", "--store", s.store, lic2)
		if k {
			killed++
		} else if err != nil {
			t.Fatalf("install failed without being killed: %v\n%s", err, out)
		}
		counts[s.check(t, 1, 2)]++
		// The interrupted install can always be finished.
		if out, err := install(); err != nil {
			t.Fatalf("install after the crash: %v\n%s", err, out)
		}
		s.check(t, 2)
	}
	t.Logf("install (%v when whole): %d runs, %d killed; store held license 1 in %d, license 2 in %d", d, runs(), killed, counts[1], counts[2])
	if counts[1] == 0 || counts[2] == 0 {
		t.Errorf("the kills never landed both before and after the commit (%v); the test proves nothing", counts)
	}
}

// TestKillDeactivate kills `oat deactivate` at random moments: the store
// holds the license or none; when none, the receipt is on disk, whole and
// valid, or kept in the store and written by running deactivate again; a
// receipt never exists while the license is still installed; copies are
// repairable either way.
func TestKillDeactivate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	st := s.open(t)
	for _, l := range s.licenses {
		if _, err := st.Install(l); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	receipt := filepath.Join(s.dir, "receipt.oat")
	snap := take(t, append([]string{s.store}, s.products...)...)
	prepare := func() {
		snap.restore(t)
		os.Remove(receipt)
	}
	deactivate := func() ([]byte, error) {
		return run(t, s.env, "deactivate", "--store", s.store, "--out", receipt)
	}
	d := duration(t, prepare, deactivate)

	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var before, after, rewritten, killed int
	for range runs() {
		prepare()
		k, out, err := runKilled(t, delay(rng, d, 0), s.env, "deactivate", "--store", s.store, "--out", receipt)
		if k {
			killed++
		} else if err != nil {
			t.Fatalf("deactivate failed without being killed: %v\n%s", err, out)
		}
		seq := s.check(t, 0, 2)
		data, err := os.ReadFile(receipt)
		switch {
		case err == nil:
			r, err := release.Parse(data, ed25519.PublicKey(s.inst))
			if err != nil {
				t.Fatalf("the receipt on disk is not whole: %v", err)
			}
			if r.Sequence != 2 {
				t.Fatalf("the receipt releases license %d, want 2", r.Sequence)
			}
		case errors.Is(err, fs.ErrNotExist) && seq == 0:
			// Killed between the commit and the receipt's write: the store
			// kept the receipt, and deactivate writes it again.
			if out, err := deactivate(); err != nil {
				t.Fatalf("the license is gone and deactivate cannot write its receipt again: %v\n%s", err, out)
			}
			if data, err := os.ReadFile(receipt); err != nil {
				t.Fatal(err)
			} else if r, err := release.Parse(data, ed25519.PublicKey(s.inst)); err != nil || r.Sequence != 2 {
				t.Fatalf("the rewritten receipt: %+v %v", r, err)
			}
			rewritten++
		case !errors.Is(err, fs.ErrNotExist):
			t.Fatal(err)
		}
		switch {
		case seq == 0:
			after++
		case err == nil:
			// A receipt for a license still installed could free a seat
			// that is still in use.
			t.Fatal("a receipt was written but the license is still installed")
		default:
			before++
		}
		if seq != 0 {
			if out, err := deactivate(); err != nil {
				t.Fatalf("deactivate after the crash: %v\n%s", err, out)
			}
			s.check(t, 0)
		}
	}
	t.Logf("deactivate (%v when whole): %d runs, %d killed; license kept in %d, removed in %d (receipt written again from the store in %d)",
		d, runs(), killed, before, after, rewritten)
	if before == 0 || after == 0 {
		t.Errorf("the kills never landed both before and after the commit; the test proves nothing")
	}
}

// TestKillDeskIssue kills `oat desk issue` of a batch of three requests at
// random moments and checks the ledger from outside: integrity, no seat
// without its activation, license and audit record, no order oversold,
// the batch all or nothing, every license file handed out recorded, and
// the same requests answerable again afterwards.
func TestKillDeskIssue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ledger.db")
	vendor := vendorKey(t, filepath.Join(dir, "vendor"))
	trust := keys.NewTrustSet(vendor.Public().(ed25519.PublicKey))
	d, _ := newDesk(t, dbPath)
	const seats = 100000
	for _, code := range []string{"backup-server", "replica-server"} {
		if err := d.AddOrder(ctx, desk.OrderLine{Order: "O1", Fulfillment: "FN1", Email: "it@example.com", Product: code, Seats: seats}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	batch := func(n int) (paths []string, datas [][]byte) {
		rdir := filepath.Join(dir, "requests")
		os.RemoveAll(rdir)
		os.MkdirAll(rdir, 0o755)
		for i := range n {
			data, _ := newRequest(t, "O1", "FN1", "it@example.com")
			p := filepath.Join(rdir, fmt.Sprintf("r%d.oat", i))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths, datas = append(paths, p), append(datas, data)
		}
		return paths, datas
	}
	outDir := filepath.Join(dir, "out")
	issueArgs := func(paths []string) []string {
		return append([]string{"desk", "issue", "--db", dbPath, "--key", filepath.Join(dir, "vendor.key"), "--out-dir", outDir}, paths...)
	}
	fresh := func() {
		os.RemoveAll(outDir)
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dur := duration(t, fresh, func() ([]byte, error) {
		paths, _ := batch(3)
		return run(t, nil, issueArgs(paths)...)
	})

	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 3))
	// The ledger's SQLite is slow under the race detector; fewer runs, and
	// kills aimed at the second half, where the transaction commits.
	n, from := runs(), 0.0
	if raceEnabled {
		n, from = 25, 0.4
	}
	var none, all, killed int
	for range n {
		fresh()
		paths, datas := batch(3)
		k, out, err := runKilled(t, delay(rng, dur, from), nil, issueArgs(paths)...)
		if k {
			killed++
		} else if err != nil {
			t.Fatalf("desk issue failed without being killed: %v\n%s", err, out)
		}
		checkLedger(t, raw, seats)

		// All or nothing: the batch's installations are all recorded or none is.
		recorded := 0
		for _, data := range datas {
			if recordedRequest(t, raw, data) {
				recorded++
			}
		}
		switch recorded {
		case 0:
			none++
		case len(datas):
			all++
		default:
			t.Fatalf("%d of %d requests of one batch are recorded", recorded, len(datas))
		}
		// Every license file handed out is whole and recorded.
		files, _ := filepath.Glob(filepath.Join(outDir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(filepath.Base(f), ".tmp") {
				continue // a temporary file the kill left; never a license
			}
			l, err := response.Parse(b, trust)
			if err != nil {
				t.Fatalf("license %s handed out is not whole: %v", f, err)
			}
			var n int
			if err := raw.QueryRow(`SELECT count(*) FROM licenses WHERE cti = ?`, l.ID).Scan(&n); err != nil || n != 1 {
				t.Fatalf("license %s was handed out but is not in the ledger (%d, %v)", f, n, err)
			}
		}
		if recorded == 0 && len(files) > 0 {
			t.Fatal("license files exist for requests the ledger does not hold")
		}
		// The same requests can be issued again: the recorded ones get
		// their licenses back, the others new ones.
		var in []desk.Input
		for i, data := range datas {
			in = append(in, desk.Input{Name: paths[i], Data: data})
		}
		issued, err := d.Issue(ctx, vendor, in, desk.IssueOptions{})
		if err != nil {
			t.Fatalf("issuing the batch again: %v", err)
		}
		for _, is := range issued {
			if is.Repeat != (recorded > 0) {
				t.Fatalf("repeat %v, but recorded %d", is.Repeat, recorded)
			}
		}
		checkLedger(t, raw, seats)
	}
	t.Logf("desk issue of 3 requests (%v when whole): %d runs, %d killed; batch recorded in %d, not at all in %d", dur, n, killed, all, none)
	if none == 0 || all == 0 {
		t.Errorf("the kills never landed both before and after the commit; the test proves nothing")
	}
}

// recordedRequest reports whether the ledger holds an activation for the
// installation that made the request.
func recordedRequest(t *testing.T, raw *sql.DB, data []byte) bool {
	t.Helper()
	_, m, err := request.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM activations WHERE install_key = ?`, []byte(m)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// checkLedger checks the ledger's invariants with plain SQL.
func checkLedger(t *testing.T, raw *sql.DB, seats int64) {
	t.Helper()
	var integrity string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: %q %v", integrity, err)
	}
	queries := map[string]string{
		"seats held by no active activation": `SELECT count(*) FROM allocations a LEFT JOIN activations v ON v.id = a.activation_id
			WHERE a.released = 0 AND (v.id IS NULL OR v.state <> 'active')`,
		"active activations without their license": `SELECT count(*) FROM activations v
			WHERE v.state = 'active' AND NOT EXISTS (SELECT 1 FROM licenses l WHERE l.activation_id = v.id AND l.seq = v.seq)`,
		"active activations without an audit record": `SELECT count(*) FROM activations v
			WHERE v.state = 'active' AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.activation_id = v.id AND a.action = 'activation.new')`,
		"active activations holding no seat": `SELECT count(*) FROM activations v
			WHERE v.state = 'active' AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.activation_id = v.id AND a.released = 0)`,
		"order lines oversold": `SELECT count(*) FROM order_lines o
			WHERE (SELECT COALESCE(SUM(units), 0) FROM allocations a WHERE a.order_id = o.order_id AND a.product = o.product AND a.released = 0) > o.seats`,
	}
	for what, q := range queries {
		var n int
		if err := raw.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			t.Fatalf("the ledger has %d %s", n, what)
		}
	}
}
