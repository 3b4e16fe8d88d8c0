package ledger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/oat-toolkit/oat/ledger"
)

// TestSQLitePragmas checks that every connection, in the write pool and
// in the read pool, gets the durability and speed settings: they are
// per connection, so a pool's second connection must have them too.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "ledger.db"))
	want := map[string]string{
		"journal_mode":       "wal",
		"synchronous":        "2", // FULL
		"foreign_keys":       "1",
		"cache_size":         "-32768",
		"temp_store":         "2", // MEMORY
		"wal_autocheckpoint": "4000",
	}
	check := func(where string, tx *ledger.Tx) error {
		for name, v := range want {
			got, err := tx.PragmaForTest(ctx, name)
			if err != nil {
				return err
			}
			if got != v {
				t.Errorf("%s: PRAGMA %s = %s, want %s", where, name, got, v)
			}
		}
		return nil
	}
	// Two transactions at once force each pool onto a second connection.
	err := db.View(ctx, func(a *ledger.Tx) error {
		return db.View(ctx, func(b *ledger.Tx) error {
			if err := check("read pool", a); err != nil {
				return err
			}
			return check("second read connection", b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *ledger.Tx) error { return check("write pool", tx) }); err != nil {
		t.Fatal(err)
	}
}
