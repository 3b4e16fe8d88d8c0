package ledger

import (
	"cmp"
	"context"
	"errors"
	"slices"
)

// Deferred writes. A transaction that answers many requests (the desk's
// batch, the portal's group commit) would otherwise run several INSERTs
// per request: on PostgreSQL each is a round trip to the server, on
// SQLite each is work on the single writer. With DeferWrites, the rows the
// issue path adds (activations and their updates, allocations, licenses,
// seat owners, host groups, order addresses, registrations, mails, audit
// entries) wait in memory and are written with multi-row statements when
// the transaction commits, or earlier, just before any statement that
// could see them:
//
//   - every write not deferred (exec) writes them first, so the database
//     sees the changes in the order they were made;
//   - every read (query, queryRow) writes them first, so it sees them;
//   - the reads of the issue path that touch those tables (Activation,
//     ActivationAllocations, AddressUsed, SeatOwners,
//     HostGroupHypervisor) instead add the rows waiting to what the
//     database returns, and the reads of tables never deferred (catalog,
//     orders, lines, pools, approvals, vendor keys, the counters) go
//     straight to the database (queryDirect).
//
// The counters (usage.go) were already gathered in memory the same way.
// A constraint the database checks (uniqueness, foreign keys, CHECK used
// <= seats) is checked when the rows are written, and fails the whole
// transaction, which DB.Update then retries: the same outcome as before,
// when such an error also failed the transaction.
//
// Request scopes. Mark opens the scope of one request among many in the
// transaction, and Keep or Undo closes it. Undo takes back everything
// the request did: the rows it deferred and its counter changes, in
// memory, and, only if it had to write to the database (a write that is
// not deferred, or a read that had to write the deferred rows first),
// its statements too: the SAVEPOINT for that is issued lazily, just
// before the first such statement. A request that only deferred its
// writes costs no statement to keep or to undo.

// actWrite is a deferred activation row: new, or a new version of one
// already written.
type actWrite struct {
	a     Activation
	isNew bool
}

type hostGroup struct {
	grp, hypervisor string
	at              int64
}

type orderAddress struct {
	order, email string
	at           int64
}

// buffered is the deferred rows of one table, in the order they were
// made; rows[:done] are written to the database already (the reads that
// add deferred rows to the database's add only rows[done:]).
type buffered[T any] struct {
	rows []T
	done int
}

func (b *buffered[T]) add(v ...T) { b.rows = append(b.rows, v...) }
func (b *buffered[T]) todo() []T  { return b.rows[b.done:] }
func (b *buffered[T]) written()   { b.done = len(b.rows) }

type bufMark struct{ n, done int }

func (b *buffered[T]) mark() bufMark { return bufMark{len(b.rows), b.done} }

func (b *buffered[T]) restore(m bufMark) {
	clear(b.rows[m.n:])
	b.rows, b.done = b.rows[:m.n], m.done
}

// writes is a transaction's deferred rows.
type writes struct {
	acts   buffered[actWrite]
	allocs buffered[Allocation]
	lics   buffered[License]
	owners buffered[SeatOwner]
	hosts  buffered[hostGroup]
	addrs  buffered[orderAddress]
	regs   buffered[Registration]
	mails  buffered[Mail]
	audits buffered[AuditEntry]
}

type writesMark [9]bufMark

func (w *writes) pending() bool {
	return w != nil && (len(w.acts.todo()) > 0 || len(w.allocs.todo()) > 0 || len(w.lics.todo()) > 0 ||
		len(w.owners.todo()) > 0 || len(w.hosts.todo()) > 0 || len(w.addrs.todo()) > 0 ||
		len(w.regs.todo()) > 0 || len(w.mails.todo()) > 0 || len(w.audits.todo()) > 0)
}

func (w *writes) mark() writesMark {
	return writesMark{w.acts.mark(), w.allocs.mark(), w.lics.mark(), w.owners.mark(), w.hosts.mark(),
		w.addrs.mark(), w.regs.mark(), w.mails.mark(), w.audits.mark()}
}

func (w *writes) restore(m writesMark) {
	w.acts.restore(m[0])
	w.allocs.restore(m[1])
	w.lics.restore(m[2])
	w.owners.restore(m[3])
	w.hosts.restore(m[4])
	w.addrs.restore(m[5])
	w.regs.restore(m[6])
	w.mails.restore(m[7])
	w.audits.restore(m[8])
}

// DeferWrites makes the transaction hold the rows of the issue path in
// memory and write them with multi-row statements at commit, or before
// any statement that could see them (see above).
func (t *Tx) DeferWrites() {
	if t.w == nil {
		t.w = &writes{}
	}
}

// sync writes the deferred rows, if any, before a read that must see them.
func (t *Tx) sync(ctx context.Context) error {
	if t.failed != nil {
		return t.failed
	}
	if t.flushing || !t.w.pending() {
		return nil
	}
	return t.beforeWrite(ctx)
}

// beforeWrite runs before every statement that writes: it takes the open
// request scope's savepoint, then writes the deferred rows.
func (t *Tx) beforeWrite(ctx context.Context) error {
	if t.failed != nil {
		return t.failed
	}
	if m := t.mark; m != nil && !m.saved {
		if _, err := t.execRaw(ctx, `SAVEPOINT oat_request`); err != nil {
			return err
		}
		m.saved = true
	}
	if t.flushing {
		return nil
	}
	return t.flushWrites(ctx)
}

// flushWrites writes the deferred rows, parents before the rows that
// refer to them.
func (t *Tx) flushWrites(ctx context.Context) error {
	w := t.w
	if !w.pending() {
		return nil
	}
	t.flushing = true
	defer func() { t.flushing = false }()
	if err := t.writeActivations(ctx, w.acts.todo()); err != nil {
		return err
	}
	w.acts.written()
	if err := t.insertAllocationRows(ctx, w.allocs.todo()); err != nil {
		return err
	}
	w.allocs.written()
	if err := t.insertLicenseRows(ctx, w.lics.todo()); err != nil {
		return err
	}
	w.lics.written()
	if err := t.insertSeatOwnerRows(ctx, w.owners.todo()); err != nil {
		return err
	}
	w.owners.written()
	if err := t.insertHostGroupRows(ctx, w.hosts.todo()); err != nil {
		return err
	}
	w.hosts.written()
	if err := t.recordAddressRows(ctx, w.addrs.todo()); err != nil {
		return err
	}
	w.addrs.written()
	if err := t.putRegistrationRows(ctx, w.regs.todo()); err != nil {
		return err
	}
	w.regs.written()
	if err := t.queueMailRows(ctx, w.mails.todo()); err != nil {
		return err
	}
	w.mails.written()
	if err := t.auditRows(ctx, w.audits.todo()); err != nil {
		return err
	}
	w.audits.written()
	return nil
}

// writeActivations writes deferred activations: each new one as it is
// now, with one multi-row INSERT, and each changed one with an UPDATE.
func (t *Tx) writeActivations(ctx context.Context, ops []actWrite) error {
	if len(ops) == 0 {
		return nil
	}
	var ids []string
	last := map[string]actWrite{}
	for _, op := range ops {
		prev, seen := last[op.a.ID]
		if !seen {
			ids = append(ids, op.a.ID)
		}
		op.isNew = op.isNew || prev.isNew
		last[op.a.ID] = op
	}
	var ins []Activation
	for _, id := range ids {
		if last[id].isNew {
			ins = append(ins, last[id].a)
		}
	}
	if err := t.insertActivationRows(ctx, ins); err != nil {
		return err
	}
	for _, id := range ids {
		if !last[id].isNew {
			if err := t.updateActivationRow(ctx, last[id].a); err != nil {
				return err
			}
		}
	}
	return nil
}

// activation returns the newest deferred version of an activation.
func (w *writes) activation(id string) (Activation, bool) {
	if w == nil {
		return Activation{}, false
	}
	for i := len(w.acts.rows) - 1; i >= 0; i-- {
		if w.acts.rows[i].a.ID == id {
			return w.acts.rows[i].a, true
		}
	}
	return Activation{}, false
}

// Mark is the open scope of one request in a transaction (Tx.Mark).
type Mark struct {
	c     *counters
	w     writesMark
	saved bool // its savepoint was taken
}

// Mark opens the scope of one request, which Keep or Undo closes; one is
// open at a time. It runs no statement: the savepoint that Undo may need
// is taken before the request's first statement that writes.
func (t *Tx) Mark() *Mark {
	m := &Mark{c: t.c.clone()}
	if t.w != nil {
		m.w = t.w.mark()
	}
	t.mark = m
	return m
}

var errNotOpen = errors.New("ledger: the request scope is not open")

// Keep closes a request scope and keeps what the request did.
func (t *Tx) Keep(ctx context.Context, m *Mark) error {
	if t.mark != m || m == nil {
		return errNotOpen
	}
	t.mark = nil
	if m.saved {
		_, err := t.execRaw(ctx, `RELEASE SAVEPOINT oat_request`)
		return err
	}
	return nil
}

// Undo closes a request scope and takes back everything the request did:
// the rows it deferred, its counter changes, and its statements.
func (t *Tx) Undo(ctx context.Context, m *Mark) error {
	if t.mark != m || m == nil {
		return errNotOpen
	}
	t.mark = nil
	if m.saved {
		if _, err := t.execRaw(ctx, `ROLLBACK TO SAVEPOINT oat_request`); err != nil {
			return err
		}
		if _, err := t.execRaw(ctx, `RELEASE SAVEPOINT oat_request`); err != nil {
			return err
		}
	}
	t.c = m.c
	if t.w != nil {
		t.w.restore(m.w)
	}
	return nil
}

// maxParams bounds the bound parameters of one statement, under SQLite's
// limit (32766) and PostgreSQL's (65535).
const maxParams = 32766

// rowsChunk bounds the rows of one multi-row statement.
const rowsChunk = 128

// chunk returns how many of n rows (or IN-list values) of ncol values
// each the next statement takes: rowsChunk (or fewer, to stay under
// maxParams), else a multiple of 8, else the rest. So n rows take at most
// two statements per chunk, and one table's statements have at most
// rowsChunk/8 + 7 texts, which the prepared-statement caches (the
// ledger's on SQLite, pgx's on PostgreSQL, 512 statements each) keep.
func chunk(n, ncol int) int {
	limit := min(rowsChunk, maxParams/ncol) &^ 7
	switch {
	case n >= limit && limit > 0:
		return limit
	case n >= 8:
		return n &^ 7
	}
	return n
}

// sortAllocations orders allocations as allocations() does.
func sortAllocations(as []Allocation) {
	slices.SortStableFunc(as, func(a, b Allocation) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.Activation, b.Activation),
			cmp.Compare(a.Order, b.Order), cmp.Compare(a.Product, b.Product))
	})
}
