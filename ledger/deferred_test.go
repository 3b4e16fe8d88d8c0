package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// TestDeferredWrites: with DeferWrites, the rows of the issue path run no
// statement until the commit, the reads of the issue path see them, any
// other read or write writes them first, and a request scope takes back
// exactly its own rows: in memory when it wrote nothing to the database,
// with a savepoint taken just before its first statement that writes
// when it did.
func TestDeferredWrites(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			db := migrated(t, b.DSN)
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				for _, q := range schema1Rows[:4] {
					if err := tx.ExecForTest(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			act := func(id string) ledger.Activation {
				return ledger.Activation{ID: id, InstallKey: []byte(id), Machine: []byte{0xa0}, Email: "ops@example.com",
					Method: "offline", State: "active", Seq: 1}
			}
			alloc := func(id string) ledger.Allocation {
				return ledger.Allocation{Activation: id, Order: "O1", Product: "p1", Pool: ledger.DefaultPool, Units: 1}
			}
			// issue writes what the desk writes for a new activation.
			issue := func(tx *ledger.Tx, id string) error {
				for _, err := range []error{
					tx.InsertActivation(ctx, act(id)),
					tx.InsertAllocation(ctx, alloc(id)),
					tx.InsertLicense(ctx, ledger.License{Activation: id, Seq: 1, ID: []byte("cti-" + id), Nonce: []byte("n-" + id), Claims: []byte{0xa0}}),
					tx.RecordAddress(ctx, "O1", id+"@example.com", 1),
					tx.PutRegistration(ctx, ledger.Registration{Activation: id, Order: "O1", Email: "ops@example.com", TokenHash: []byte("t-" + id)}),
					tx.QueueMail(ctx, ledger.Mail{To: "ops@example.com", Subject: id, Body: "b"}),
					tx.InsertSeatOwner(ctx, ledger.SeatOwner{Order: "O1", Product: "p1", Owner: id, FirstActivated: 1}),
					tx.InsertHostGroup(ctx, "g-"+id, "kvm", 1),
					tx.Audit(ctx, ledger.AuditEntry{Actor: "test", Action: "issue", Activation: id, Detail: "{}"}),
				} {
					if err != nil {
						return err
					}
				}
				return nil
			}
			err = db.Update(ctx, func(tx *ledger.Tx) error {
				tx.DeferWrites()
				// The first allocation reads the counters it changes.
				if err := issue(tx, "a1"); err != nil {
					return err
				}
				before := db.Statements()
				// A refused request that wrote only deferred rows: nothing
				// runs, not even a savepoint; neither does a kept one.
				m := tx.Mark()
				if err := issue(tx, "a2"); err != nil {
					return err
				}
				if err := tx.Undo(ctx, m); err != nil {
					return err
				}
				m = tx.Mark()
				if err := issue(tx, "a3"); err != nil {
					return err
				}
				if err := tx.Keep(ctx, m); err != nil {
					return err
				}
				if n := db.Statements() - before; n != 0 {
					t.Errorf("deferred writes and request scopes ran %d statements", n)
				}

				// The issue path's reads see the deferred rows.
				if a, err := tx.Activation(ctx, "a3"); err != nil || a.ID != "a3" {
					t.Errorf("Activation(a3): %+v, %v", a, err)
				}
				if _, err := tx.Activation(ctx, "a2"); err == nil {
					t.Error("Activation(a2) found a row taken back")
				}
				if as, err := tx.ActivationAllocations(ctx, "a1"); err != nil || len(as) != 1 {
					t.Errorf("ActivationAllocations(a1): %v, %v", as, err)
				}
				if used, any, err := tx.AddressUsed(ctx, "O1", "a3@example.com"); err != nil || !used || !any {
					t.Errorf("AddressUsed(a3): %v %v %v", used, any, err)
				}
				if used, any, err := tx.AddressUsed(ctx, "O1", "a2@example.com"); err != nil || used || !any {
					t.Errorf("AddressUsed(a2): %v %v %v", used, any, err)
				}
				if own, err := tx.SeatOwners(ctx, "O1", "p1"); err != nil || len(own) != 2 {
					t.Errorf("SeatOwners: %v, %v", own, err)
				}
				if h, ok, err := tx.HostGroupHypervisor(ctx, "g-a2"); err != nil || ok {
					t.Errorf("HostGroupHypervisor(g-a2): %q %v %v", h, ok, err)
				}
				if u, err := tx.Usage(ctx, "O1", "p1", ""); err != nil || u.Units != 2 {
					t.Errorf("Usage: %+v, %v", u, err)
				}

				// A request that writes to the database gets a savepoint
				// before that write, which writes the deferred rows of the
				// requests before it first; taken back, its own go, theirs
				// stay, to be written again at commit.
				m = tx.Mark()
				if err := issue(tx, "a4"); err != nil {
					return err
				}
				if err := tx.PutEmail(ctx, ledger.Email{Order: "O1", Email: "x@example.com", State: "pending", Requested: 1}); err != nil {
					return err
				}
				if err := tx.Undo(ctx, m); err != nil {
					return err
				}
				// Any other read writes the deferred rows first.
				acts, err := tx.Activations(ctx, "O1")
				if err != nil {
					return err
				}
				var ids []string
				for _, a := range acts {
					ids = append(ids, a.ID)
				}
				if got := strings.Join(ids, " "); got != "a1 a3" {
					t.Errorf("Activations(O1) = %s, want a1 a3", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			dump, err := db.Dump(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for table, n := range map[string]int{"activations": 2, "allocations": 2, "licenses": 2, "order_addresses": 2,
				"registrations": 2, "outbox": 2, "seat_owners": 2, "host_groups": 2, "audit": 2, "emails": 0} {
				if !strings.Contains(dump, fmt.Sprintf("[%s] %d\n", table, n)) {
					t.Errorf("table %s does not hold %d rows:\n%s", table, n, dump)
				}
			}
			for _, gone := range []string{"a2", "a4"} {
				if strings.Contains(dump, "id="+gone+" ") || strings.Contains(dump, "activation_id="+gone+" ") {
					t.Errorf("a row of %s, taken back, is in the ledger", gone)
				}
			}
			if err := db.VerifyCounters(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}
