package ledger

import "context"

// ExecForTest runs a raw statement, so tests can tamper with the ledger.
func (t *Tx) ExecForTest(ctx context.Context, q string) error {
	_, err := t.exec(ctx, q)
	return err
}

// PragmaForTest reads an SQLite pragma on the transaction's connection.
func (t *Tx) PragmaForTest(ctx context.Context, name string) (string, error) {
	var v string
	err := t.tx.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// MigrateToForTest migrates the ledger up to an older schema version, so
// that tests can fill a ledger the way an older oat did and upgrade it.
func (d *DB) MigrateToForTest(ctx context.Context, version int) error {
	_, _, err := d.migrate(ctx, version)
	return err
}
