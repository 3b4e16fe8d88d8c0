// Package ledger is the license desk's database: the catalog, orders and
// their seats, license pools, activations, seat allocations, e-mail
// approvals, release receipts, a mail outbox and an append-only audit log.
//
// One type, DB, works over two real databases: SQLite (pure Go, embedded; the
// DSN is a file path) for a desk on one machine, and PostgreSQL (a
// postgres:// DSN) where several desk and portal processes share a ledger.
//
// Every change runs in one transaction (DB.Update). The seat count of an
// order can never be exceeded under concurrency: on SQLite every write
// transaction takes the database write lock up front (BEGIN IMMEDIATE), so
// writers are serialized; on PostgreSQL the transaction locks the order's
// rows (SELECT ... FOR UPDATE, Tx.LockOrders) before it counts seats, so two
// desks allocating from the same order wait for each other while other
// orders proceed in parallel. Transactions that lose a deadlock or a busy
// race are retried from the start.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSchemaTooNew means the database was migrated by a newer oat.
	ErrSchemaTooNew = errors.New("the ledger's schema is newer than this oat knows; use a newer oat")
	// ErrNotInitialized means the database has no (or an older) ledger schema.
	ErrNotInitialized = errors.New("the ledger is not initialized or is out of date: run oat desk init")
	// ErrNoLedger means OpenExisting found no SQLite file at the path.
	ErrNoLedger = errors.New("no ledger there (oat desk init creates one)")
)

// DB is an open ledger.
type DB struct {
	sql     *sql.DB
	read    *sql.DB // SQLite: a pool whose transactions take no write lock; else sql
	dialect Dialect
	name    string // the DSN without credentials, for messages
	// stmts and readStmts keep SQLite's prepared statements (nil on
	// PostgreSQL, whose pgx driver caches them per connection itself).
	stmts, readStmts *stmtCache
	// statements counts the statements run (Statements).
	statements atomic.Int64
}

// stmtCache keeps one *sql.Stmt per query text, so that SQLite parses a
// query once per connection instead of on every call: database/sql
// prepares a Stmt on each connection it first runs on (Tx.StmtContext)
// and keeps it there. Without it, preparing was about 40 % of the desk's
// issue path.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache; the ledger's query texts are fixed, so
// it is never reached unless a query is built from a variable list.
const maxCachedStmts = 512

// get returns the statement for q, prepared once, or nil if q cannot be
// prepared (then running q directly reports why).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok {
		st.Close()
		return prev
	}
	c.m[q] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// Open opens the ledger at dsn: a postgres:// or postgresql:// URL, or else
// a file path for SQLite (created if missing). It does not migrate; call
// Migrate (oat desk init) for that, and Check before using the ledger.
// Everything but creating a ledger uses OpenExisting instead.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, true)
}

// OpenExisting is Open for a ledger that must exist already: a SQLite path
// that names no file fails with ErrNoLedger and creates nothing, so a typo
// in --db does not leave an empty database behind.
func OpenExisting(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, false)
}

func open(ctx context.Context, dsn string, create bool) (*DB, error) {
	if dsn == "" {
		return nil, errors.New("ledger: empty DSN (a file path or postgres://...)")
	}
	d := &DB{}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d.dialect = Postgres
		d.name = redact(dsn)
		d.sql, err = sql.Open("pgx", dsn)
	} else {
		d.dialect = SQLite
		d.name = dsn
		if err := checkSQLitePath(dsn, create); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", dsn, err)
		}
		mode := "rwc"
		if !create {
			// mode=rw: SQLite itself refuses to create the file, even if
			// it vanished since the check above.
			mode = "rw"
		}
		d.sql, err = sql.Open("sqlite", sqliteDSN(dsn, "immediate")+"&mode="+mode)
		if err == nil {
			d.read, err = sql.Open("sqlite", sqliteDSN(dsn, "deferred")+"&_pragma=query_only(1)&mode="+mode)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", d.name, err)
	}
	if d.read == nil {
		d.read = d.sql
	} else {
		d.stmts = &stmtCache{db: d.sql, m: map[string]*sql.Stmt{}}
		d.readStmts = &stmtCache{db: d.read, m: map[string]*sql.Stmt{}}
	}
	if err := d.sql.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("ledger %s: %w", d.name, err)
	}
	return d, nil
}

// checkSQLitePath explains in words what SQLite would report as "unable to
// open database file (14)": a missing file or directory, a directory in
// place of the file.
func checkSQLitePath(path string, create bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return errors.New("is a directory, not a ledger file")
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return err
	case !create:
		return ErrNoLedger
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("the directory %s does not exist", dir)
	}
	return nil
}

// sqliteDSN turns a path into a modernc.org/sqlite URI that sets what the
// ledger relies on for every connection: write transactions take the lock
// up front (txlock "immediate": BEGIN IMMEDIATE), writers wait for each
// other instead of failing at once, WAL lets readers (the "deferred",
// query-only pool) run beside the writer, foreign keys are checked, and
// commits are durable.
//
// The rest is speed that costs no durability: a 32 MiB page cache per
// connection (the default 2 MiB makes a busy desk re-read index pages),
// temporary tables and sort files in memory, and a WAL checkpoint every
// 4000 pages instead of 1000, so that pages written by many commits in a
// row (the indexes' right-hand pages) are copied back once, with fewer
// checkpoint fsyncs. Commits still fsync the WAL (synchronous FULL).
func sqliteDSN(path, txlock string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?_txlock=" + txlock +
		"&_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)" +
		"&_pragma=cache_size(-32768)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(4000)"
}

// redact hides a password in a postgres URL.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	at := strings.LastIndex(rest, "@")
	slash := strings.Index(rest, "/")
	if at < 0 || (slash >= 0 && slash < at) {
		return dsn
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":***@" + rest[at+1:]
}

// Dialect reports which database the ledger is on.
func (d *DB) Dialect() Dialect { return d.dialect }

// String names the ledger for messages (credentials hidden).
func (d *DB) String() string { return d.name }

// Close closes the database.
func (d *DB) Close() error {
	d.stmts.close()
	d.readStmts.close()
	if d.read != d.sql {
		d.read.Close()
	}
	return d.sql.Close()
}

// Statements returns how many SQL statements the ledger ran since it
// was opened, not counting BEGIN and COMMIT: on PostgreSQL each is a round
// trip to the server, on SQLite each is work on the single writer. The
// benchmarks report it per request.
func (d *DB) Statements() int64 { return d.statements.Load() }

// Tx is one ledger transaction.
type Tx struct {
	tx      *sql.Tx
	conn    *sql.Conn // PostgreSQL: the connection tx runs on
	db      *DB
	dialect Dialect
	stmts   *stmtCache // nil: run queries unprepared
	c       *counters  // the counters this transaction read and changed (usage.go)
	w       *writes    // with DeferWrites, the rows waiting to be written (deferred.go)
	// flushing is set while w is written, so that its own statements do
	// not flush it again.
	flushing bool
	mark     *Mark // the open request scope (deferred.go), or nil
	// failed is the error of a flush that a read had to do and could
	// not report: the transaction fails with it.
	failed error
	// pipe, when not nil, gathers the statements that write, to send
	// them together (pipeline.go).
	pipe *[]queued
	// lockedLines are the order lines LockOrders read, by order, for the
	// next Lines of the order; any write forgets them.
	lockedLines map[string][]Line
}

// Update runs fn in one write transaction and commits it if fn returns
// nil. A transaction that loses a race (SQLite busy, PostgreSQL deadlock
// or serialization failure, or a uniqueness violation because another
// transaction inserted the same row first) is retried, so fn must have no
// effect outside tx; the retry sees the other transaction's rows.
func (d *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	const attempts = 8
	var err error
	for i := 0; i < attempts; i++ {
		err = d.run(ctx, fn)
		if err == nil || !(retriable(err) || IsConstraint(err)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 10 * time.Millisecond):
		}
	}
	return err
}

// View runs fn in a transaction that is always rolled back: a consistent
// read of the ledger.
func (d *DB) View(ctx context.Context, fn func(*Tx) error) error {
	tx, err := d.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: d.dialect == Postgres})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.name, err)
	}
	defer tx.Rollback()
	return fn(&Tx{tx: tx, db: d, dialect: d.dialect, stmts: d.readStmts})
}

func (d *DB) run(ctx context.Context, fn func(*Tx) error) error {
	var conn *sql.Conn
	if d.dialect == Postgres {
		// A connection of its own, so that the writes at commit can be
		// sent through pgx in one round trip (pipeline.go).
		var err error
		if conn, err = d.sql.Conn(ctx); err != nil {
			return fmt.Errorf("ledger %s: %w", d.name, err)
		}
		defer conn.Close()
	}
	var tx *sql.Tx
	var err error
	if conn != nil {
		tx, err = conn.BeginTx(ctx, nil)
	} else {
		tx, err = d.sql.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.name, err)
	}
	// Rolled back on every way out but the commit, a panic in fn
	// included: a transaction left open would hold SQLite's write lock, or
	// PostgreSQL's row locks, until the process ends. (After a commit,
	// Rollback does nothing.)
	defer tx.Rollback()
	t := &Tx{tx: tx, conn: conn, db: d, dialect: d.dialect, stmts: d.stmts}
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		return t.failed
	}
	t.mark = nil
	if err := t.flushAll(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger %s: commit: %w", d.name, err)
	}
	return nil
}

// retriable reports whether err is a lock race worth running the
// transaction again for.
func retriable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// IsConstraint reports whether err is a uniqueness or foreign-key violation.
func IsConstraint(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "23")
	}
	return false
}

// rebind turns ? placeholders into PostgreSQL's $n. The ledger's queries
// never contain a literal question mark.
func (t *Tx) rebind(q string) string {
	if t.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// stmt returns q prepared on the transaction's connection, or nil to run
// q as it is.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	st := t.stmts.get(ctx, q)
	if st == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

// exec runs a statement that changes the ledger. Before it, the open
// request scope gets its savepoint and the deferred rows are written
// (beforeWrite), so that the database sees the changes in the order they
// were made.
func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := t.beforeWrite(ctx); err != nil {
		return nil, err
	}
	return t.execRaw(ctx, q, args...)
}

// execRaw is exec without beforeWrite.
func (t *Tx) execRaw(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.db.statements.Add(1)
	t.lockedLines = nil
	if t.pipe != nil {
		*t.pipe = append(*t.pipe, queued{t.rebind(q), args})
		return pipelined{}, nil
	}
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.rebind(q), args...)
}

// query runs a query after writing the deferred rows, so that it sees
// them: the default for every read. Reads of tables the deferred writes
// never hold use queryDirect.
func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	return t.queryDirect(ctx, q, args...)
}

// queryRow is query for one row. A failure to write the deferred rows
// first fails the transaction (Tx.failed), since a Row cannot carry it.
func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if err := t.sync(ctx); err != nil && t.failed == nil {
		t.failed = err
	}
	return t.queryRowDirect(ctx, q, args...)
}

// queryDirect runs a query without writing the deferred rows first: only
// for tables that deferred writes never hold (the catalog, orders, lines,
// pools, approvals, vendor keys, the counters' tables), or where the
// caller adds the deferred rows itself.
func (t *Tx) queryDirect(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := t.sendPipeline(ctx); err != nil {
		return nil, err
	}
	t.db.statements.Add(1)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.rebind(q), args...)
}

// queryRowDirect is queryDirect for one row.
func (t *Tx) queryRowDirect(ctx context.Context, q string, args ...any) *sql.Row {
	if err := t.sendPipeline(ctx); err != nil && t.failed == nil {
		t.failed = err
	}
	t.db.statements.Add(1)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.rebind(q), args...)
}

// forUpdate is the row-lock suffix for SELECTs that precede a change: on
// PostgreSQL it locks the rows; SQLite already holds the write lock.
func (t *Tx) forUpdate() string {
	if t.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
