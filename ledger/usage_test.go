package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// schema1Rows fills a ledger the way oat did at schema 1, before the
// counters: allocations active and released, in named and default pools,
// in groups, on two orders, by activations with several addresses and
// both methods.
var schema1Rows = []string{
	`INSERT INTO products (code, name, model, params) VALUES ('p1', 'P1', 'server', '{}'), ('p2', 'P2', 'virtual', '{}')`,
	`INSERT INTO orders (order_id, fulfillment, email, created) VALUES ('O1', 'F1', 'buyer@example.com', 1), ('O2', 'F2', 'other@example.com', 1)`,
	`INSERT INTO order_lines (order_id, product, seats, expires, created) VALUES ('O1', 'p1', 10, 0, 1), ('O1', 'p2', 5, 0, 1), ('O2', 'p1', 3, 0, 1)`,
	`INSERT INTO pools (order_id, product, name, seats) VALUES ('O1', 'p1', 'blue', 3)`,
	`INSERT INTO activations (id, install_key, machine_hash, machine, host, email, method, grp, seq, state, created, updated, released, release_reason) VALUES
		('a1', X'01', 'h', X'00', 'h1', 'buyer@example.com', 'offline', '', 1, 'active', 1, 1, 0, ''),
		('a2', X'02', 'h', X'00', 'h2', 'ops@example.com', 'offline', 'host-1', 1, 'active', 1, 1, 0, ''),
		('a3', X'03', 'h', X'00', 'h3', 'ops@example.com', 'offline', 'host-1', 1, 'released', 1, 1, 5, 'test'),
		('a4', X'04', 'h', X'00', 'h4', 'buyer@example.com', 'offline', 'host-2', 1, 'active', 1, 1, 0, ''),
		('a5', X'05', 'h', X'00', 'h5', 'other@example.com', 'online', '', 1, 'active', 1, 1, 0, '')`,
	`INSERT INTO allocations (activation_id, order_id, product, pool, grp, units, created, released) VALUES
		('a1', 'O1', 'p1', 'Default (Unassigned Licenses)', '', 1, 1, 0),
		('a2', 'O1', 'p1', 'blue', 'host-1', 2, 1, 0),
		('a2', 'O1', 'p2', 'Default (Unassigned Licenses)', 'host-1', 1, 1, 0),
		('a3', 'O1', 'p2', 'Default (Unassigned Licenses)', 'host-1', 1, 1, 5),
		('a4', 'O1', 'p2', 'Default (Unassigned Licenses)', 'host-2', 4, 1, 0),
		('a5', 'O2', 'p1', 'Default (Unassigned Licenses)', '', 1, 1, 0)`,
}

// TestMigrationCountsAnExistingLedger upgrades a ledger filled at schema 1
// and checks that the counters say what a scan of its allocations says.
func TestMigrationCountsAnExistingLedger(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := open(t, b.DSN)
			if err := db.MigrateToForTest(ctx, 1); err != nil {
				t.Fatal(err)
			}
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				for _, q := range schema1Rows {
					if b.Name == "postgres" { // PostgreSQL spells a bytea literal '\x01'
						q = strings.ReplaceAll(q, "X'", `'\x`)
					}
					if err := tx.ExecForTest(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if from, to, err := db.Migrate(ctx); err != nil || from != 1 || to != ledger.SchemaVersion {
				t.Fatalf("Migrate = %d, %d, %v", from, to, err)
			}
			if err := db.VerifyCounters(ctx); err != nil {
				t.Fatal(err)
			}
			err = db.View(ctx, func(tx *ledger.Tx) error {
				for _, c := range []struct {
					order, product, pool string
					want                 ledger.Usage
				}{
					{"O1", "p1", "", ledger.Usage{Units: 3, Groups: 2, GroupsEver: 2}},
					{"O1", "p1", "blue", ledger.Usage{Units: 2, Groups: 1, GroupsEver: 1}},
					{"O1", "p1", ledger.DefaultPool, ledger.Usage{Units: 1, Groups: 1, GroupsEver: 1}},
					{"O1", "p2", "", ledger.Usage{Units: 5, ReleasedUnits: 1, Groups: 2, GroupsEver: 2}},
					{"O2", "p1", "", ledger.Usage{Units: 1, Groups: 1, GroupsEver: 1}},
					{"O2", "p2", "", ledger.Usage{}},
				} {
					u, err := tx.Usage(ctx, c.order, c.product, c.pool)
					if err != nil {
						return err
					}
					if u != c.want {
						return fmt.Errorf("Usage(%s, %s, %q) = %+v, want %+v", c.order, c.product, c.pool, u, c.want)
					}
				}
				g, err := tx.GroupUsage(ctx, "O1", "p2", "", "host-1")
				if err != nil {
					return err
				}
				if g != (ledger.GroupUsage{Members: 1, Ever: 2}) {
					return fmt.Errorf("GroupUsage(O1, p2, host-1) = %+v", g)
				}
				emails, err := tx.OrderEmails(ctx, "O1")
				if err != nil {
					return err
				}
				if fmt.Sprint(emails) != "[buyer@example.com ops@example.com]" {
					return fmt.Errorf("OrderEmails(O1) = %v", emails)
				}
				methods, err := tx.OrderMethods(ctx, "O2")
				if err != nil {
					return err
				}
				if fmt.Sprint(methods) != "[online]" {
					return fmt.Errorf("OrderMethods(O2) = %v", methods)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCountersFollowAllocations changes allocations and activations every
// way the desk does, in one transaction and across several, and checks the
// counters against a scan after each commit.
func TestCountersFollowAllocations(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := open(t, b.DSN)
			if err := db.MigrateToForTest(ctx, 1); err != nil {
				t.Fatal(err)
			}
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
			if _, _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			act := func(id, email, method string) ledger.Activation {
				return ledger.Activation{ID: id, InstallKey: []byte(id), Machine: []byte{0}, Email: email, Method: method, State: "active"}
			}
			alloc := func(id, pool, grp string, units int64) ledger.Allocation {
				return ledger.Allocation{Activation: id, Order: "O1", Product: "p1", Pool: pool, Group: grp, Units: units, Created: 1}
			}
			steps := []func(tx *ledger.Tx) error{
				func(tx *ledger.Tx) error { // a batch: many allocations in one transaction
					for i := range 20 {
						id := fmt.Sprintf("b%02d", i)
						if err := tx.InsertActivation(ctx, act(id, fmt.Sprintf("u%d@example.com", i%3), "offline")); err != nil {
							return err
						}
						if err := tx.InsertAllocation(ctx, alloc(id, ledger.DefaultPool, fmt.Sprintf("g%d", i%4), 1)); err != nil {
							return err
						}
					}
					return nil
				},
				func(tx *ledger.Tx) error { // a move to a named pool, then a release back to the default one
					a := alloc("b01", "blue", "g1", 1)
					if err := tx.UpdateAllocation(ctx, a); err != nil {
						return err
					}
					a.Pool, a.Released = ledger.DefaultPool, 9
					return tx.UpdateAllocation(ctx, a)
				},
				func(tx *ledger.Tx) error { // an address changes on an update
					a := act("b02", "new@example.com", "offline")
					a.Seq = 2
					return tx.UpdateActivation(ctx, a)
				},
				func(tx *ledger.Tx) error { // every allocation of one group released
					for _, id := range []string{"b00", "b04", "b08", "b12", "b16"} {
						a := alloc(id, ledger.DefaultPool, "g0", 1)
						a.Released = 9
						if err := tx.UpdateAllocation(ctx, a); err != nil {
							return err
						}
					}
					return nil
				},
			}
			for i, step := range steps {
				if err := db.Update(ctx, step); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if err := db.VerifyCounters(ctx); err != nil {
					t.Fatalf("after step %d: %v", i, err)
				}
			}
			err = db.View(ctx, func(tx *ledger.Tx) error {
				u, err := tx.Usage(ctx, "O1", "p1", "")
				if err != nil {
					return err
				}
				if u != (ledger.Usage{Units: 14, ReleasedUnits: 6, Groups: 3, GroupsEver: 4}) {
					return fmt.Errorf("Usage = %+v", u)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUsedCannotExceedSeats: the database itself refuses to record more
// seats in use than a line or a named pool has (S3), whatever the code
// above it computes.
func TestUsedCannotExceedSeats(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
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
			for _, c := range []struct {
				pool string
				used int64
				ok   bool
			}{{"", 10, true}, {"", 11, false}, {"blue", 3, true}, {"blue", 4, false}} {
				err := db.Update(ctx, func(tx *ledger.Tx) error {
					tx.SetUsed("O1", "p1", c.pool, c.used)
					return nil
				})
				if (err == nil) != c.ok || (err != nil && !ledger.IsConstraint(err)) {
					t.Errorf("SetUsed(%q, %d): %v", c.pool, c.used, err)
				}
			}
		})
	}
}
