package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pipelining. On PostgreSQL every statement is a round trip to the
// server, and database/sql sends them one at a time. The writes a
// transaction makes at commit (the deferred rows, deferred.go, and the
// counters, usage.go) depend on no result of each other, so flushAll
// gathers them and sends them as one pgx batch on the transaction's own
// connection: one round trip instead of one per statement. The server
// runs them in order, in the transaction; the first that fails stops the
// rest and fails the transaction, with the server's error, as if it had
// been sent alone.

// queued is a statement waiting in a pipeline.
type queued struct {
	q    string
	args []any
}

// pipelined is the sql.Result of a queued statement: no caller at commit
// reads it.
type pipelined struct{}

func (pipelined) LastInsertId() (int64, error) { return 0, errors.New("ledger: pipelined statement") }
func (pipelined) RowsAffected() (int64, error) { return 0, errors.New("ledger: pipelined statement") }

// flushAll writes everything the transaction holds in memory before its
// commit: in one round trip on PostgreSQL.
func (t *Tx) flushAll(ctx context.Context) error {
	if t.conn != nil {
		t.pipe = &[]queued{}
	}
	err := t.flushWrites(ctx)
	if err == nil {
		err = t.flushCounters(ctx)
	}
	if perr := t.sendPipeline(ctx); err == nil {
		err = perr
	}
	t.pipe = nil
	return err
}

// sendPipeline sends the statements gathered, if any, and stops gathering.
func (t *Tx) sendPipeline(ctx context.Context) error {
	if t.pipe == nil {
		return nil
	}
	q := *t.pipe
	t.pipe = nil
	if len(q) == 0 {
		return nil
	}
	return t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("ledger: the connection is a %T, not pgx's", dc)
		}
		b := &pgx.Batch{}
		for _, s := range q {
			b.Queue(s.q, s.args...)
		}
		br := c.Conn().SendBatch(ctx, b)
		for range q {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
}
