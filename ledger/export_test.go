package ledger

import "context"

// ExecForTest runs a raw statement, so tests can tamper with the ledger.
func (t *Tx) ExecForTest(ctx context.Context, q string) error {
	_, err := t.exec(ctx, q)
	return err
}
