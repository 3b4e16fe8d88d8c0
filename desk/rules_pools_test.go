package desk_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
)

// TestRuleA12_NewActivationFromANamedPool: a seat moved into a named pool
// can be used by a new activation that asks for that pool (FAQ 2.22); the
// pool's seats bound it, and a pool the order does not have is refused.
func TestRuleA12_NewActivationFromANamedPool(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		if err := fx.desk.SetPool(ctx, "O1", "backup-server", "Tokyo", 1, "desk"); err != nil {
			t.Fatal(err)
		}
		tokyo := desk.IssueOptions{Pool: "Tokyo"}
		is := fx.mustIssue(newInstallation("tk1").request(t, "O1", "FN1", "buyer@example.com"), tokyo)
		if p := is.License.Products[0].Pool; p != "Tokyo" {
			t.Errorf("license pool %q, want Tokyo", p)
		}
		before := fx.dump()
		_, err := fx.issue("r.oat", newInstallation("tk2").request(t, "O1", "FN1", "buyer@example.com"), tokyo)
		wantErr(t, err, desk.ErrNoSeats,
			`r.oat: no free seats: order O1 has no free backup-server in pool "Tokyo": 1 of 1 seats in use`)
		_, err = fx.issue("r.oat", newInstallation("os1").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Pool: "Osaka"})
		wantErr(t, err, desk.ErrNotFound, `r.oat: not found: order O1 has no pool "Osaka" for backup-server (A12)`)
		if fx.dump() != before {
			t.Error("a refusal changed the ledger")
		}
		// The default pool keeps its two seats.
		fx.mustIssue(newInstallation("d1").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("d2").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		for _, p := range fx.show("O1").Pools {
			if p.Used != p.Seats {
				t.Errorf("pool %q: %d of %d used", p.Name, p.Used, p.Seats)
			}
		}
	})
}

// TestRuleA12_PoolRenamed: a pool's name can change; its seats and the
// activations drawn from it stay, and a new activation uses the new name.
func TestRuleA12_PoolRenamed(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		if err := fx.desk.SetPool(ctx, "O1", "backup-server", "Tokyo", 2, "desk"); err != nil {
			t.Fatal(err)
		}
		is := fx.mustIssue(newInstallation("tk1").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Pool: "Tokyo"})
		if err := fx.desk.SetPool(ctx, "O1", "backup-server", "Osaka", 1, "desk"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, fx.desk.RenamePool(ctx, "O1", "backup-server", "Tokyo", "Osaka", "desk"), desk.ErrConflict,
			`conflicts with the ledger: order O1 has a pool "Osaka" for backup-server already`)
		wantErr(t, fx.desk.RenamePool(ctx, "O1", "backup-server", "Kyoto", "Nara", "desk"), desk.ErrNotFound, "")
		if err := fx.desk.RenamePool(ctx, "O1", "backup-server", "Tokyo", "Tokyo East", "desk"); err != nil {
			t.Fatal(err)
		}
		_, err := fx.issue("r.oat", newInstallation("x").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Pool: "Tokyo"})
		wantErr(t, err, desk.ErrNotFound, "")
		fx.mustIssue(newInstallation("tk2").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Pool: "Tokyo East"})
		_, err = fx.issue("r.oat", newInstallation("tk3").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Pool: "Tokyo East"})
		wantErr(t, err, desk.ErrNoSeats, "")
		// The activation drawn from it is in the renamed pool: its next
		// license says so.
		up, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{Reissue: true})
		if err != nil {
			t.Fatal(err)
		}
		if p := up.License.Products[0].Pool; p != "Tokyo East" {
			t.Errorf("after the rename the license says pool %q", p)
		}
		if err := fx.db.VerifyCounters(ctx); err != nil {
			t.Error(err)
		}
	})
}

// TestRuleA12_PoolSeatsHoldUnderConcurrency: issuers racing for a named
// pool's seats on several desks never take more than the pool holds.
func TestRuleA12_PoolSeatsHoldUnderConcurrency(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O5", "FN5", "buyer@example.com", "backup-server", 8, "")
		if err := fx.desk.SetPool(ctx, "O5", "backup-server", "Tokyo", 3, "desk"); err != nil {
			t.Fatal(err)
		}
		const n = 12
		reqs := make([][]byte, n)
		for i := range reqs {
			reqs[i] = newInstallation(fmt.Sprintf("srv%d", i)).request(t, "O5", "FN5", "buyer@example.com")
		}
		desks := make([]*desk.Desk, 4)
		for i := range desks {
			db, err := ledger.Open(ctx, fx.dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			desks[i] = desk.New(db, desk.Options{})
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = desks[i%len(desks)].IssueOne(ctx, fx.vendor, fmt.Sprint(i), reqs[i], desk.IssueOptions{Pool: "Tokyo"})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, desk.ErrNoSeats):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 3 {
			t.Errorf("%d issuers succeeded, want exactly the pool's 3", ok)
		}
		for _, p := range fx.show("O5").Pools {
			if p.Name == "Tokyo" && p.Used != 3 {
				t.Errorf("pool Tokyo: %d used", p.Used)
			}
		}
	})
}
