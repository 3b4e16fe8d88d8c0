package ledger_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// TestRegistrationsMigrateToSchema9 upgrades a ledger whose registration
// links were mailed before schema 9, when a link was found by its token's
// hash alone: those links still work, a new link is found by its
// activation, and only the old links stay in the hash index.
func TestRegistrationsMigrateToSchema9(t *testing.T) {
	ctx := context.Background()
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.DSN)
			if err := db.MigrateToForTest(ctx, 8); err != nil {
				t.Fatal(err)
			}
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				for _, q := range schema1Rows[:5] {
					if b.Name == "postgres" {
						q = strings.ReplaceAll(q, "X'", `'\x`)
					}
					if err := tx.ExecForTest(ctx, q); err != nil {
						return err
					}
				}
				// As oat wrote them at schema 8.
				for _, id := range []string{"a1", "a2"} {
					lit := fmt.Sprintf("X'%x'", hash("old-"+id))
					if b.Name == "postgres" {
						lit = fmt.Sprintf(`'\x%x'`, hash("old-"+id))
					}
					if err := tx.ExecForTest(ctx, `INSERT INTO registrations (activation_id, order_id, email, host, token_hash, token_expires, sent, verified)
						VALUES ('`+id+`', 'O1', 'buyer@example.com', 'h', `+lit+`, 100, 1, 0)`); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if from, to, err := db.Migrate(ctx); err != nil || from != 8 || to != ledger.SchemaVersion {
				t.Fatalf("Migrate = %d, %d, %v", from, to, err)
			}
			find := func(activation, token string) (ledger.Registration, error) {
				var r ledger.Registration
				err := db.Update(ctx, func(tx *ledger.Tx) error {
					var err error
					r, err = tx.RegistrationByToken(ctx, activation, hash(token))
					return err
				})
				return r, err
			}
			if r, err := find("", "old-a1"); err != nil || r.Activation != "a1" || r.TokenExpires != 100 {
				t.Fatalf("a link mailed before the migration: %+v, %v", r, err)
			}
			if r, err := find("a1", "old-a1"); err != nil || r.Activation != "a1" {
				t.Fatalf("the same link by its activation: %+v, %v", r, err)
			}
			if _, err := find("a1", "old-a2"); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("another link's token for a1 = %v, want ErrNotFound", err)
			}
			if _, err := find("", "no such link"); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("an unknown old-style token = %v, want ErrNotFound", err)
			}
			// Confirming keeps the token: the old link still finds it.
			// A new link (renewal) leaves the hash index.
			err = db.Update(ctx, func(tx *ledger.Tx) error {
				r, err := tx.Registration(ctx, "a1")
				if err != nil {
					return err
				}
				r.Verified = 50
				if err := tx.PutRegistration(ctx, r); err != nil {
					return err
				}
				r2, err := tx.Registration(ctx, "a2")
				if err != nil {
					return err
				}
				r2.TokenHash = hash("a2.new")
				return tx.PutRegistration(ctx, r2)
			})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := find("", "old-a1"); err != nil || r.Verified != 50 {
				t.Fatalf("a confirmed old link: %+v, %v", r, err)
			}
			if _, err := find("", "a2.new"); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("a new link found by its hash alone = %v, want ErrNotFound", err)
			}
			if _, err := find("", "old-a2"); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("a replaced old link = %v, want ErrNotFound", err)
			}
			if r, err := find("a2", "a2.new"); err != nil || r.Activation != "a2" {
				t.Fatalf("a new link by its activation: %+v, %v", r, err)
			}
			// New rows are not in the hash index: two may share a hash
			// (they never do; the index is not what makes tokens unique).
			err = db.Update(ctx, func(tx *ledger.Tx) error {
				for _, id := range []string{"a4", "a5"} {
					if err := tx.PutRegistration(ctx, ledger.Registration{Activation: id, Order: "O1", Email: "x@example.com",
						Host: "h", TokenHash: hash("same"), TokenExpires: 100, Sent: 1}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("new rows are indexed by their hash: %v", err)
			}
		})
	}
}
