package stress

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/response"
)

// held is a license a worker holds and may release.
type held struct {
	order      string
	activation string
	seq        uint64
	id         []byte
	key        ed25519.PrivateKey
}

// TestConcurrentIssueRelease runs several `oat desk issue` and `oat desk
// release` processes at once against two small orders on each database,
// for a bounded time. Requests that find no free seat must be refused
// with that reason and nothing else; at the end every order line's seats
// used equal the live activations the workers hold, never more than its
// seats, and replaying the audit log gives the same live activations.
func TestConcurrentIssueRelease(t *testing.T) {
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			loadRun(t, b.DSN)
		})
	}
}

func loadRun(t *testing.T, dsn string) {
	dir := t.TempDir()
	vendor := vendorKey(t, filepath.Join(dir, "vendor"))
	trust := keys.NewTrustSet(vendor.Public().(ed25519.PublicKey))
	d, _ := newDesk(t, dsn)
	const seats = 3
	orders := []string{"O1", "O2"}
	products := []string{"backup-server", "replica-server"}
	for _, o := range orders {
		for _, p := range products {
			if err := d.AddOrder(ctx, desk.OrderLine{Order: o, Fulfillment: "FN-" + o, Email: "it@example.com", Product: p, Seats: seats}, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}

	workers, budget := 4, 4*time.Second
	if raceEnabled || testing.Short() {
		budget = 3 * time.Second
	}
	// The budget is a minimum: a slow machine (the race detector, a busy
	// CI) may not fill an order and release a seat in it, and a run that
	// did neither proves nothing, so it goes on until it has, within a cap.
	deadline, limit := time.Now().Add(budget), time.Now().Add(90*time.Second)
	var mu sync.Mutex
	var live []held
	var issued, released, refused int
	more := func() bool {
		now := time.Now()
		if now.Before(deadline) {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		return now.Before(limit) && (issued == 0 || refused == 0 || released == 0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for i := 0; more(); i++ {
				mu.Lock()
				var h held
				// Issue twice as often as release, so the orders fill up.
				pick := len(live) > 0 && rng.IntN(3) == 0
				if pick {
					j := rng.IntN(len(live))
					h = live[j]
					live = append(live[:j], live[j+1:]...)
				}
				mu.Unlock()
				if pick {
					if err := releaseOne(t, dir, dsn, w, i, h); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					released++
					mu.Unlock()
					continue
				}
				order := orders[rng.IntN(len(orders))]
				h, ok, err := issueOne(t, dir, dsn, w, i, order, trust)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if ok {
					issued++
					live = append(live, h)
				} else {
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := map[string]int{}
	for _, h := range live {
		want[h.order]++
	}
	if err := d.DB().VerifyCounters(ctx); err != nil {
		t.Error(err)
	}
	replayed := replayAudit(t, d)
	for _, o := range orders {
		v, err := d.Show(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range v.Products {
			if l.Used != int64(want[o]) || l.Used > l.Seats {
				t.Errorf("order %s %s: %d of %d seats used, but %d activations are live", o, l.Code, l.Used, l.Seats, want[o])
			}
		}
		if replayed[o] != want[o] {
			t.Errorf("order %s: the audit log replays to %d live activations, the workers hold %d", o, replayed[o], want[o])
		}
	}
	t.Logf("%d processes for %v: %d issued, %d refused for want of seats, %d released; %d live at the end (%v)",
		workers, time.Since(deadline.Add(-budget)).Round(time.Millisecond), issued, refused, released, len(live), want)
	if issued == 0 || refused == 0 || released == 0 {
		t.Errorf("the load never filled the orders and released seats; it proves nothing")
	}
}

// issueOne asks for a license in a separate oat process. A refusal for
// want of seats is ok=false; any other failure is an error.
func issueOne(t *testing.T, dir, dsn string, w, i int, order string, trust *keys.TrustSet) (held, bool, error) {
	req, priv := newRequest(t, order, "FN-"+order, "it@example.com")
	reqPath := filepath.Join(dir, fmt.Sprintf("w%d-%d.req", w, i))
	out := filepath.Join(dir, fmt.Sprintf("w%d-%d.license", w, i))
	if err := os.WriteFile(reqPath, req, 0o644); err != nil {
		return held{}, false, err
	}
	msg, err := run(t, nil, "desk", "issue", "--db", dsn, "--key", filepath.Join(dir, "vendor.key"), "--out", out, reqPath)
	if err != nil {
		if strings.Contains(string(msg), desk.ErrNoSeats.Error()) {
			if _, statErr := os.Stat(out); statErr == nil {
				return held{}, false, fmt.Errorf("a refused request left a license file:\n%s", msg)
			}
			return held{}, false, nil
		}
		return held{}, false, fmt.Errorf("desk issue failed for another reason than seats: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return held{}, false, err
	}
	l, err := response.Parse(data, trust)
	if err != nil {
		return held{}, false, fmt.Errorf("issued license: %w", err)
	}
	return held{order: order, activation: l.Activation, seq: l.Sequence, id: l.ID, key: priv}, true, nil
}

// releaseOne gives a license back in a separate oat process.
func releaseOne(t *testing.T, dir, dsn string, w, i int, h held) error {
	id := make([]byte, 16)
	rand.Read(id)
	data, err := release.Seal(release.Receipt{Activation: h.activation, IssuedAt: time.Now().Unix(), ID: id,
		Sequence: h.seq, License: h.id, Host: "load"}, h.key)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("w%d-%d.receipt", w, i))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	if msg, err := run(t, nil, "desk", "release", "--db", dsn, path); err != nil {
		return fmt.Errorf("desk release: %v\n%s", err, msg)
	}
	return nil
}

// replayAudit rebuilds the live activations per order from the audit log
// alone: activation.new adds one, release.* takes it away.
func replayAudit(t *testing.T, d *desk.Desk) map[string]int {
	t.Helper()
	entries, err := d.Audit(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	liveAt := map[string]string{}            // activation -> order
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		e := entries[i]
		switch {
		case e.Action == "activation.new":
			liveAt[e.Activation] = e.Order
		case strings.HasPrefix(e.Action, "release."):
			if _, ok := liveAt[e.Activation]; !ok {
				t.Errorf("audit entry %d releases %s, which is not live", e.ID, e.Activation)
			}
			delete(liveAt, e.Activation)
		case e.Action == "activation.update":
			if _, ok := liveAt[e.Activation]; !ok {
				t.Errorf("audit entry %d updates %s, which is not live", e.ID, e.Activation)
			}
		}
	}
	out := map[string]int{}
	for _, o := range liveAt {
		out[o]++
	}
	return out
}
