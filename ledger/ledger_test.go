package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

func open(t *testing.T, dsn string) *ledger.DB {
	t.Helper()
	db, err := ledger.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrated is open with the newest schema.
func migrated(t *testing.T, dsn string) *ledger.DB {
	t.Helper()
	db := open(t, dsn)
	if _, _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := open(t, b.DSN)
			if err := db.Check(ctx); !errors.Is(err, ledger.ErrNotInitialized) {
				t.Fatalf("Check on an empty database = %v, want ErrNotInitialized", err)
			}
			from, to, err := db.Migrate(ctx)
			if err != nil || from != 0 || to != ledger.SchemaVersion {
				t.Fatalf("Migrate = %d, %d, %v", from, to, err)
			}
			if err := db.Check(ctx); err != nil {
				t.Fatal(err)
			}
			// Running it again is a no-op.
			if from, to, err := db.Migrate(ctx); err != nil || from != to {
				t.Fatalf("second Migrate = %d, %d, %v", from, to, err)
			}
			// A schema from a newer oat is refused, by init and by use.
			err = db.Update(ctx, func(tx *ledger.Tx) error {
				return tx.ExecForTest(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (999, 0)`)
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.Migrate(ctx); !errors.Is(err, ledger.ErrSchemaTooNew) {
				t.Fatalf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
			}
			if err := db.Check(ctx); !errors.Is(err, ledger.ErrSchemaTooNew) {
				t.Fatalf("Check on a newer schema = %v, want ErrSchemaTooNew", err)
			}
		})
	}
}

func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN)
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				return tx.Audit(ctx, ledger.AuditEntry{At: 1, Actor: "test", Action: "x", Detail: "{}"})
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`} {
				err := db.Update(ctx, func(tx *ledger.Tx) error { return tx.ExecForTest(ctx, q) })
				if err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: err = %v, want append-only refusal", q, err)
				}
			}
			log, err := viewAudit(ctx, db)
			if err != nil || len(log) != 1 || log[0].Actor != "test" {
				t.Fatalf("audit log = %+v, %v", log, err)
			}
		})
	}
}

func viewAudit(ctx context.Context, db *ledger.DB) (log []ledger.AuditEntry, err error) {
	err = db.View(ctx, func(tx *ledger.Tx) error {
		log, err = tx.AuditLog(ctx, "", "")
		return err
	})
	return log, err
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := ledger.Open(ctx, ""); err == nil {
		t.Error("empty DSN accepted")
	}
	_, err := ledger.Open(ctx, "postgres://oat:secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("unreachable PostgreSQL accepted")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestReadersBesideWriter: a consistent read does not wait for a writer
// that holds the write lock (WAL on SQLite, MVCC on PostgreSQL).
// A panic in a transaction's function rolls it back: the Issuer recovers
// from one and goes on, so a transaction left open would keep the write
// lock (SQLite) or the row's lock (PostgreSQL) from every later one.
func TestPanicRollsBack(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN)
			o := ledger.Order{ID: "O1", Fulfillment: "F", Email: "e@x", Created: 1}
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("no panic")
					}
				}()
				db.Update(ctx, func(tx *ledger.Tx) error {
					if err := tx.InsertOrder(ctx, o); err != nil {
						return err
					}
					panic("in the transaction")
				})
			}()
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			// The same order again: it waits for the panicked
			// transaction's row on PostgreSQL and for the write lock on
			// SQLite, unless that transaction was rolled back.
			if err := db.Update(tctx, func(tx *ledger.Tx) error { return tx.InsertOrder(tctx, o) }); err != nil {
				t.Fatalf("after a panic in a transaction: %v", err)
			}
		})
	}
}

func TestReadersBesideWriter(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN)
			read := make(chan error, 1)
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				if err := tx.InsertOrder(ctx, ledger.Order{ID: "O1", Fulfillment: "F", Email: "e@x", Created: 1}); err != nil {
					return err
				}
				go func() {
					read <- db.View(ctx, func(tx *ledger.Tx) error {
						_, err := tx.Order(ctx, "O1")
						if !errors.Is(err, ledger.ErrNotFound) {
							return fmt.Errorf("reader saw uncommitted order: %v", err)
						}
						return nil
					})
				}()
				select {
				case err := <-read:
					return err
				case <-time.After(5 * time.Second):
					return errors.New("the reader waited for the writer")
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
