// Package ledgertest gives tests fresh, empty ledgers on every database the
// ledger supports: SQLite always, PostgreSQL when $OAT_TEST_POSTGRES holds a
// postgres:// DSN (each test then gets its own schema, dropped afterwards,
// so tests never see each other's rows).
package ledgertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Backend is one database to run a test on.
type Backend struct {
	Name string // "sqlite" or "postgres"
	DSN  string // a fresh, empty ledger
}

// Backends returns a fresh SQLite ledger DSN in t.TempDir() and, when
// $OAT_TEST_POSTGRES is set, a fresh PostgreSQL schema. When $CI is "true"
// and PostgreSQL is not configured, the test fails instead of silently
// testing one database.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{{Name: "sqlite", DSN: filepath.Join(t.TempDir(), "ledger.db")}}
	base := os.Getenv("OAT_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but OAT_TEST_POSTGRES is not set: the ledger must be tested on PostgreSQL too")
		}
		// A visible skip, so that scripts/test.sh reports the half that
		// did not run instead of passing over it in silence.
		if tt, ok := t.(*testing.T); ok {
			tt.Run("postgres", func(t *testing.T) {
				t.Skip("OAT_TEST_POSTGRES is not set: the PostgreSQL half did not run")
			})
		}
		return out
	}
	return append(out, Backend{Name: "postgres", DSN: PostgresSchema(t, base)})
}

// PostgresSchema creates a schema with a random name in the database at
// base, drops it when the test ends, and returns a DSN whose search_path
// is that schema.
func PostgresSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "oat_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("OAT_TEST_POSTGRES: %v", err)
	}
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		t.Fatalf("OAT_TEST_POSTGRES: create schema: %v", err)
	}
	t.Cleanup(func() {
		db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("OAT_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
