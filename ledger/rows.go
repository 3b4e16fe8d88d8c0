package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// DefaultPool is the pool that holds an order line's seats no named pool
// holds, and to which released seats return (A15).
const DefaultPool = "Default (Unassigned Licenses)"

// Product is a catalog entry. Params is the license model's parameters as
// JSON, interpreted by the desk.
type Product struct {
	Code, Name, Model, Params string
}

// Order is an order (A1, A2).
type Order struct {
	ID, Fulfillment, Email string
	Created                int64
}

// Line is one product on an order.
type Line struct {
	Order, Product string
	Seats          int64
	Expires        int64 // Unix seconds; 0 = perpetual
	Created        int64
	Cancelled      int64 // when the desk cancelled the line; 0 = in force
}

// Pool is a named allocation of a line's seats (A12).
type Pool struct {
	Order, Product, Name string
	Seats                int64
}

// Activation is one installation's activation.
type Activation struct {
	ID            string
	InstallKey    []byte
	MachineHash   string
	Machine       []byte // the fingerprint as CBOR
	Host, Email   string
	Method        string // "offline" or "online" (A11)
	Group         string // hypervisor host or cluster group, for models that count them
	Seq           int64
	State         string // "active" or "released"
	Created       int64
	Updated       int64
	Released      int64
	ReleaseReason string
}

// License is one license issued for an activation.
type License struct {
	Activation string
	Seq        int64
	ID         []byte // cti
	Nonce      []byte // the request it answered, or nil
	Claims     []byte // CBOR
	Signer     string // key ID of the vendor key that signed it ("" before the ledger recorded signers)
	Issued     int64
}

// Allocation is the seats an activation holds on an order line.
type Allocation struct {
	Activation, Order, Product, Pool, Group string
	Units                                   int64
	Created, Released                       int64
}

// Email is an address approved (or waiting for approval) on an order (A8).
type Email struct {
	Order, Email, State string
	TokenHash           []byte
	TokenExpires        int64
	Requested, Decided  int64
	DecidedBy           string
	Host                string // the computer the request was for, as the requester named it
}

// Mail is a message waiting in (or sent from) the outbox.
type Mail struct {
	ID                int64
	To, Subject, Body string
	Created, SentAt   int64
	Attempts          int64
	LastError         string
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID                int64
	At                int64
	Actor, Action     string
	Order, Activation string
	Detail            string
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

// PutProduct inserts or replaces a catalog product.
func (t *Tx) PutProduct(ctx context.Context, p Product) error {
	_, err := t.exec(ctx, `INSERT INTO products (code, name, model, params) VALUES (?, ?, ?, ?)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, model = excluded.model, params = excluded.params`,
		p.Code, p.Name, p.Model, p.Params)
	return err
}

// Product returns a catalog product.
func (t *Tx) Product(ctx context.Context, code string) (Product, error) {
	var p Product
	err := t.queryRowDirect(ctx, `SELECT code, name, model, params FROM products WHERE code = ?`, code).
		Scan(&p.Code, &p.Name, &p.Model, &p.Params)
	return p, notFound(err, "product "+code)
}

// Products returns the catalog, by code.
func (t *Tx) Products(ctx context.Context) ([]Product, error) {
	rows, err := t.queryDirect(ctx, `SELECT code, name, model, params FROM products ORDER BY code`)
	return collect(rows, err, func(r scanner) (Product, error) {
		var p Product
		err := r.Scan(&p.Code, &p.Name, &p.Model, &p.Params)
		return p, err
	})
}

// InsertOrder records a new order.
func (t *Tx) InsertOrder(ctx context.Context, o Order) error {
	_, err := t.exec(ctx, `INSERT INTO orders (order_id, fulfillment, email, created) VALUES (?, ?, ?, ?)`,
		o.ID, o.Fulfillment, o.Email, o.Created)
	return err
}

// Order returns an order without locking it.
func (t *Tx) Order(ctx context.Context, id string) (Order, error) {
	var o Order
	err := t.queryRowDirect(ctx, `SELECT order_id, fulfillment, email, created FROM orders WHERE order_id = ?`, id).
		Scan(&o.ID, &o.Fulfillment, &o.Email, &o.Created)
	return o, notFound(err, "order "+id)
}

// LockOrders locks the orders and their lines against other writers until
// the transaction ends, in a fixed order so that two transactions never
// deadlock on them, and returns the orders that exist. Seat counts read
// after LockOrders stay true until commit.
func (t *Tx) LockOrders(ctx context.Context, ids ...string) (map[string]Order, error) {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	out := make(map[string]Order)
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			continue
		}
		var o Order
		err := t.queryRowDirect(ctx, `SELECT order_id, fulfillment, email, created FROM orders WHERE order_id = ?`+t.forUpdate(), id).
			Scan(&o.ID, &o.Fulfillment, &o.Email, &o.Created)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.dialect == Postgres {
			rows, err := t.queryDirect(ctx, `SELECT product FROM order_lines WHERE order_id = ? ORDER BY product FOR UPDATE`, id)
			if err != nil {
				return nil, err
			}
			rows.Close()
		}
		out[id] = o
	}
	return out, nil
}

// InsertLine adds a product line to an order.
func (t *Tx) InsertLine(ctx context.Context, l Line) error {
	_, err := t.exec(ctx, `INSERT INTO order_lines (order_id, product, seats, expires, created) VALUES (?, ?, ?, ?, ?)`,
		l.Order, l.Product, l.Seats, l.Expires, l.Created)
	return err
}

// Lines returns an order's lines, by product.
func (t *Tx) Lines(ctx context.Context, order string) ([]Line, error) {
	rows, err := t.queryDirect(ctx, `SELECT order_id, product, seats, expires, created, cancelled FROM order_lines WHERE order_id = ? ORDER BY product`, order)
	return collect(rows, err, func(r scanner) (Line, error) {
		var l Line
		err := r.Scan(&l.Order, &l.Product, &l.Seats, &l.Expires, &l.Created, &l.Cancelled)
		return l, err
	})
}

// PutPool creates, resizes or (with zero seats) removes a named pool.
func (t *Tx) PutPool(ctx context.Context, p Pool) error {
	// The seats in use the transaction recorded must be written first:
	// the database checks them against the pool's new size.
	if err := t.flushCounters(ctx); err != nil {
		return err
	}
	if p.Seats == 0 {
		_, err := t.exec(ctx, `DELETE FROM pools WHERE order_id = ? AND product = ? AND name = ?`, p.Order, p.Product, p.Name)
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO pools (order_id, product, name, seats) VALUES (?, ?, ?, ?)
		ON CONFLICT (order_id, product, name) DO UPDATE SET seats = excluded.seats`, p.Order, p.Product, p.Name, p.Seats)
	return err
}

// Pools returns an order's named pools.
func (t *Tx) Pools(ctx context.Context, order string) ([]Pool, error) {
	rows, err := t.queryDirect(ctx, `SELECT order_id, product, name, seats FROM pools WHERE order_id = ? ORDER BY product, name`, order)
	return collect(rows, err, func(r scanner) (Pool, error) {
		var p Pool
		err := r.Scan(&p.Order, &p.Product, &p.Name, &p.Seats)
		return p, err
	})
}

const activationCols = `id, install_key, machine_hash, machine, host, email, method, grp, seq, state, created, updated, released, release_reason`

func scanActivation(s scanner) (Activation, error) {
	var a Activation
	err := s.Scan(&a.ID, &a.InstallKey, &a.MachineHash, &a.Machine, &a.Host, &a.Email, &a.Method, &a.Group,
		&a.Seq, &a.State, &a.Created, &a.Updated, &a.Released, &a.ReleaseReason)
	return a, err
}

// InsertActivation records a new activation.
func (t *Tx) InsertActivation(ctx context.Context, a Activation) error {
	return t.InsertActivations(ctx, []Activation{a})
}

// Activation returns an activation, locked against other writers (one
// this transaction wrote is its own).
func (t *Tx) Activation(ctx context.Context, id string) (Activation, error) {
	if a, ok := t.w.activation(id); ok {
		return a, nil
	}
	a, err := scanActivation(t.queryRowDirect(ctx, `SELECT `+activationCols+` FROM activations WHERE id = ?`+t.forUpdate(), id))
	return a, notFound(err, "activation "+id)
}

// PeekActivation returns an activation without locking it, for reads in
// View transactions (PostgreSQL refuses FOR UPDATE in a read-only one).
func (t *Tx) PeekActivation(ctx context.Context, id string) (Activation, error) {
	if a, ok := t.w.activation(id); ok {
		return a, nil
	}
	a, err := scanActivation(t.queryRowDirect(ctx, `SELECT `+activationCols+` FROM activations WHERE id = ?`, id))
	return a, notFound(err, "activation "+id)
}

// ActiveActivationByKey returns the active activation of an installation key.
func (t *Tx) ActiveActivationByKey(ctx context.Context, key []byte) (Activation, error) {
	a, err := scanActivation(t.queryRow(ctx, `SELECT `+activationCols+` FROM activations WHERE install_key = ? AND state = 'active'`+t.forUpdate(), key))
	return a, notFound(err, "activation for installation key")
}

// UpdateActivation writes back an activation's mutable fields.
func (t *Tx) UpdateActivation(ctx context.Context, a Activation) error {
	if err := t.rehold(ctx, a); err != nil {
		return err
	}
	if t.w != nil {
		t.w.acts.add(actWrite{a: a})
		return nil
	}
	return t.updateActivationRow(ctx, a)
}

func (t *Tx) updateActivationRow(ctx context.Context, a Activation) error {
	_, err := t.exec(ctx, `UPDATE activations SET machine_hash = ?, machine = ?, host = ?, email = ?, seq = ?, state = ?, grp = ?,
		updated = ?, released = ?, release_reason = ? WHERE id = ?`,
		a.MachineHash, a.Machine, a.Host, a.Email, a.Seq, a.State, a.Group, a.Updated, a.Released, a.ReleaseReason, a.ID)
	return err
}

// Activations returns the activations holding seats (or, with released,
// having held seats) on an order.
func (t *Tx) Activations(ctx context.Context, order string) ([]Activation, error) {
	rows, err := t.query(ctx, `SELECT `+prefix("a.", activationCols)+` FROM activations a
		WHERE a.id IN (SELECT activation_id FROM allocations WHERE order_id = ?) ORDER BY a.created, a.id`, order)
	return collect(rows, err, scanActivation)
}

func prefix(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// InsertLicense records an issued license.
func (t *Tx) InsertLicense(ctx context.Context, l License) error {
	return t.InsertLicenses(ctx, []License{l})
}

func scanLicense(s scanner) (License, error) {
	var l License
	err := s.Scan(&l.Activation, &l.Seq, &l.ID, &l.Nonce, &l.Claims, &l.Issued, &l.Signer)
	return l, err
}

// LicenseByNonce returns the license that answered the request with nonce.
func (t *Tx) LicenseByNonce(ctx context.Context, nonce []byte) (License, error) {
	l, err := scanLicense(t.queryRow(ctx, `SELECT activation_id, seq, cti, nonce, claims, issued, signer FROM licenses WHERE nonce = ?`, nonce))
	return l, notFound(err, "license for request")
}

// LatestLicense returns an activation's newest license.
func (t *Tx) LatestLicense(ctx context.Context, activation string) (License, error) {
	l, err := scanLicense(t.queryRow(ctx, `SELECT activation_id, seq, cti, nonce, claims, issued, signer FROM licenses
		WHERE activation_id = ? ORDER BY seq DESC LIMIT 1`, activation))
	return l, notFound(err, "license of activation "+activation)
}

// InsertAllocation records seats taken by an activation.
func (t *Tx) InsertAllocation(ctx context.Context, a Allocation) error {
	return t.InsertAllocations(ctx, []Allocation{a})
}

// UpdateAllocation writes back an allocation's pool, group, units and release time.
func (t *Tx) UpdateAllocation(ctx context.Context, a Allocation) error {
	old, err := t.allocations(ctx, `activation_id = ? AND order_id = ? AND product = ?`, a.Activation, a.Order, a.Product)
	if err != nil {
		return err
	}
	if len(old) != 1 {
		return fmt.Errorf("allocation of %s on %s/%s: %w", a.Activation, a.Order, a.Product, ErrNotFound)
	}
	if err := t.count(ctx, old[0], -1); err != nil {
		return err
	}
	if err := t.count(ctx, a, +1); err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE allocations SET pool = ?, grp = ?, units = ?, released = ?
		WHERE activation_id = ? AND order_id = ? AND product = ?`, a.Pool, a.Group, a.Units, a.Released, a.Activation, a.Order, a.Product)
	return err
}

const allocationCols = `activation_id, order_id, product, pool, grp, units, created, released`

func (t *Tx) allocations(ctx context.Context, where string, args ...any) ([]Allocation, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	return t.allocationsDirect(ctx, where, args...)
}

func (t *Tx) allocationsDirect(ctx context.Context, where string, args ...any) ([]Allocation, error) {
	rows, err := t.queryDirect(ctx, `SELECT `+allocationCols+` FROM allocations WHERE `+where+` ORDER BY created, activation_id, order_id, product`, args...)
	return collect(rows, err, func(r scanner) (Allocation, error) {
		var a Allocation
		err := r.Scan(&a.Activation, &a.Order, &a.Product, &a.Pool, &a.Group, &a.Units, &a.Created, &a.Released)
		return a, err
	})
}

// ActivationAllocations returns what an activation holds (released rows
// too), deferred ones included.
func (t *Tx) ActivationAllocations(ctx context.Context, activation string) ([]Allocation, error) {
	out, err := t.allocationsDirect(ctx, `activation_id = ?`, activation)
	if err != nil || t.w == nil {
		return out, err
	}
	n := len(out)
	for _, a := range t.w.allocs.todo() {
		if a.Activation == activation {
			out = append(out, a)
		}
	}
	if len(out) > n {
		sortAllocations(out)
	}
	return out, nil
}

// LineAllocations returns every allocation on an order line, released ones too.
func (t *Tx) LineAllocations(ctx context.Context, order, product string) ([]Allocation, error) {
	return t.allocations(ctx, `order_id = ? AND product = ?`, order, product)
}

// PutEmail inserts or replaces an order's e-mail approval row.
func (t *Tx) PutEmail(ctx context.Context, e Email) error {
	_, err := t.exec(ctx, `INSERT INTO emails (order_id, email, state, token_hash, token_expires, requested, decided, decided_by, host)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id, email) DO UPDATE SET state = excluded.state, token_hash = excluded.token_hash,
			token_expires = excluded.token_expires, requested = excluded.requested, decided = excluded.decided,
			decided_by = excluded.decided_by, host = excluded.host`,
		e.Order, e.Email, e.State, nullBytes(e.TokenHash), e.TokenExpires, e.Requested, e.Decided, e.DecidedBy, e.Host)
	return err
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

const emailCols = `order_id, email, state, token_hash, token_expires, requested, decided, decided_by, host`

func scanEmail(s scanner) (Email, error) {
	var e Email
	err := s.Scan(&e.Order, &e.Email, &e.State, &e.TokenHash, &e.TokenExpires, &e.Requested, &e.Decided, &e.DecidedBy, &e.Host)
	return e, err
}

// Email returns the approval row of an address on an order.
func (t *Tx) Email(ctx context.Context, order, email string) (Email, error) {
	e, err := scanEmail(t.queryRowDirect(ctx, `SELECT `+emailCols+` FROM emails WHERE order_id = ? AND email = ?`, order, email))
	return e, notFound(err, "e-mail "+email+" on order "+order)
}

// EmailByToken returns the approval row whose link token hashes to hash.
func (t *Tx) EmailByToken(ctx context.Context, hash []byte) (Email, error) {
	e, err := scanEmail(t.queryRow(ctx, `SELECT `+emailCols+` FROM emails WHERE token_hash = ?`+t.forUpdate(), hash))
	return e, notFound(err, "approval link")
}

// Emails returns the approval rows of an order.
func (t *Tx) Emails(ctx context.Context, order string) ([]Email, error) {
	rows, err := t.query(ctx, `SELECT `+emailCols+` FROM emails WHERE order_id = ? ORDER BY email`, order)
	return collect(rows, err, scanEmail)
}

// ReceiptSeen reports whether a release receipt was already accepted.
func (t *Tx) ReceiptSeen(ctx context.Context, id []byte) (bool, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM receipts WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// InsertReceipt records an accepted release receipt.
func (t *Tx) InsertReceipt(ctx context.Context, id []byte, activation string, seq, at int64) error {
	_, err := t.exec(ctx, `INSERT INTO receipts (id, activation_id, seq, received) VALUES (?, ?, ?, ?)`, id, activation, seq, at)
	return err
}

// QueueMail puts a message in the outbox.
func (t *Tx) QueueMail(ctx context.Context, m Mail) error {
	if t.w != nil {
		t.w.mails.add(m)
		return nil
	}
	return t.queueMailRows(ctx, []Mail{m})
}

func (t *Tx) queueMailRows(ctx context.Context, ms []Mail) error {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		rows[i] = []any{m.To, m.Subject, m.Body, m.Created}
	}
	return t.insertRows(ctx, `INSERT INTO outbox (to_addr, subject, body, created)`, 4, rows, "")
}

// PendingMail returns up to limit unsent messages, oldest first.
func (t *Tx) PendingMail(ctx context.Context, limit int) ([]Mail, error) {
	q := `SELECT id, to_addr, subject, body, created, sent_at, attempts, last_error FROM outbox WHERE sent_at = 0 ORDER BY id LIMIT ?`
	rows, err := t.query(ctx, q, limit)
	return collect(rows, err, func(r scanner) (Mail, error) {
		var m Mail
		err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &m.Created, &m.SentAt, &m.Attempts, &m.LastError)
		return m, err
	})
}

// MarkMail records a send attempt: sentAt > 0 marks it sent, else errMsg says why not.
func (t *Tx) MarkMail(ctx context.Context, id, sentAt int64, errMsg string) error {
	res, err := t.exec(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`, sentAt, errMsg, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mail %d: %w", id, ErrNotFound)
	}
	return nil
}

// Audit appends an entry to the audit log.
func (t *Tx) Audit(ctx context.Context, e AuditEntry) error {
	return t.AuditAll(ctx, []AuditEntry{e})
}

// AuditLog returns the audit entries about an order or an activation
// (either may be empty to match all), oldest first.
func (t *Tx) AuditLog(ctx context.Context, order, activation string) ([]AuditEntry, error) {
	rows, err := t.query(ctx, `SELECT id, at, actor, action, order_id, activation_id, detail FROM audit
		WHERE (CAST(? AS TEXT) = '' OR order_id = ?) AND (CAST(? AS TEXT) = '' OR activation_id = ?) ORDER BY id`, order, order, activation, activation)
	return collect(rows, err, scanAudit)
}

func scanAudit(r scanner) (AuditEntry, error) {
	var e AuditEntry
	err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Order, &e.Activation, &e.Detail)
	return e, err
}

// RecentAudit returns the newest limit audit entries, newest first.
func (t *Tx) RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := t.query(ctx, `SELECT id, at, actor, action, order_id, activation_id, detail FROM audit ORDER BY id DESC LIMIT ?`, limit)
	return collect(rows, err, scanAudit)
}

// OrderIDs returns every order ID, sorted.
func (t *Tx) OrderIDs(ctx context.Context) ([]string, error) {
	rows, err := t.query(ctx, `SELECT order_id FROM orders ORDER BY order_id`)
	return collect(rows, err, func(r scanner) (string, error) {
		var s string
		err := r.Scan(&s)
		return s, err
	})
}

// PendingEmails returns the approval requests still waiting, oldest first.
func (t *Tx) PendingEmails(ctx context.Context) ([]Email, error) {
	rows, err := t.query(ctx, `SELECT `+emailCols+` FROM emails WHERE state = 'pending' ORDER BY requested, order_id, email`)
	return collect(rows, err, scanEmail)
}

// Tables lists the ledger's tables, for Dump.
var Tables = []string{"products", "orders", "order_lines", "pools", "activations", "licenses",
	"allocations", "emails", "receipts", "outbox", "audit", "pool_usage", "group_usage", "order_holders",
	"order_addresses", "seat_owners", "staff", "staff_sessions", "registrations", "vendor_keys", "host_groups"}

// Dump returns every row of every table as text, in a stable order: a
// snapshot for tests and diagnostics that shows whether anything changed.
func (d *DB) Dump(ctx context.Context) (string, error) {
	var b strings.Builder
	err := d.View(ctx, func(t *Tx) error {
		for _, table := range Tables {
			rows, err := t.query(ctx, `SELECT * FROM `+table+` ORDER BY 1, 2`)
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			var lines []string
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				var f []string
				for i, v := range vals {
					if bs, ok := v.([]byte); ok {
						v = fmt.Sprintf("%x", bs)
					}
					f = append(f, fmt.Sprintf("%s=%v", cols[i], v))
				}
				lines = append(lines, strings.Join(f, " "))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			fmt.Fprintf(&b, "[%s] %d\n", table, len(lines))
			for _, l := range lines {
				b.WriteString(l + "\n")
			}
		}
		return nil
	})
	return b.String(), err
}

// inList is "?, ?, …" for n placeholders.
func inList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// LicensesByNonce returns the licenses that answered any of the requests
// with the given nonces, keyed by nonce: one query for a batch instead of
// one per request.
func (t *Tx) LicensesByNonce(ctx context.Context, nonces [][]byte) (map[string]License, error) {
	out := map[string]License{}
	err := t.queryIn(ctx, nonces, func(list string) string {
		return `SELECT activation_id, seq, cti, nonce, claims, issued, signer FROM licenses WHERE nonce IN (` + list + `)`
	}, func(rows *sql.Rows) error {
		l, err := scanLicense(rows)
		if err == nil {
			out[string(l.Nonce)] = l
		}
		return err
	})
	return out, err
}

// ActiveActivationsByKey returns the active activations of any of the
// installation keys, keyed by key, locked against other writers.
func (t *Tx) ActiveActivationsByKey(ctx context.Context, keys [][]byte) (map[string]Activation, error) {
	out := map[string]Activation{}
	err := t.queryIn(ctx, keys, func(list string) string {
		return `SELECT ` + activationCols + ` FROM activations
			WHERE install_key IN (` + list + `) AND state = 'active' ORDER BY id` + t.forUpdate()
	}, func(rows *sql.Rows) error {
		a, err := scanActivation(rows)
		if err == nil {
			out[string(a.InstallKey)] = a
		}
		return err
	})
	return out, err
}

// queryIn runs the query that text builds around an IN list of vals, in
// chunks (see chunk), and calls scan for every row.
func (t *Tx) queryIn(ctx context.Context, vals [][]byte, text func(list string) string, scan func(*sql.Rows) error) error {
	for len(vals) > 0 {
		chunk := vals[:chunk(len(vals), 1)]
		vals = vals[len(chunk):]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		rows, err := t.query(ctx, text(inList(len(chunk))), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// insertRows inserts rows of ncol values each with multi-row INSERTs (see
// chunk), tail (an ON CONFLICT clause, or "") after the values: one
// statement for a batch instead of one per row.
func (t *Tx) insertRows(ctx context.Context, head string, ncol int, rows [][]any, tail string) error {
	one := "(" + inList(ncol) + ")"
	for len(rows) > 0 {
		chunk := rows[:chunk(len(rows), ncol)]
		rows = rows[len(chunk):]
		args := make([]any, 0, len(chunk)*ncol)
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", len(chunk)), ", ") + tail
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// InsertLicenses records issued licenses, in order.
func (t *Tx) InsertLicenses(ctx context.Context, ls []License) error {
	if t.w != nil {
		t.w.lics.add(ls...)
		return nil
	}
	return t.insertLicenseRows(ctx, ls)
}

func (t *Tx) insertLicenseRows(ctx context.Context, ls []License) error {
	rows := make([][]any, len(ls))
	for i, l := range ls {
		rows[i] = []any{l.Activation, l.Seq, l.ID, nullBytes(l.Nonce), l.Claims, l.Issued, l.Signer}
	}
	return t.insertRows(ctx, `INSERT INTO licenses (activation_id, seq, cti, nonce, claims, issued, signer)`, 7, rows, "")
}

// AuditAll appends entries to the audit log, in order.
func (t *Tx) AuditAll(ctx context.Context, es []AuditEntry) error {
	if t.w != nil {
		t.w.audits.add(es...)
		return nil
	}
	return t.auditRows(ctx, es)
}

func (t *Tx) auditRows(ctx context.Context, es []AuditEntry) error {
	rows := make([][]any, len(es))
	for i, e := range es {
		rows[i] = []any{e.At, e.Actor, e.Action, e.Order, e.Activation, e.Detail}
	}
	return t.insertRows(ctx, `INSERT INTO audit (at, actor, action, order_id, activation_id, detail)`, 6, rows, "")
}

// scanner is what a row scan needs: *sql.Row and *sql.Rows both are.
type scanner interface{ Scan(...any) error }

// collect reads every row of a query with scan; it takes the query's error
// too, so that a call reads: rows, err := t.query(...); return collect(rows, err, scanX).
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// InsertActivations records new activations with multi-row inserts: one
// statement per rowsChunk activations instead of one each.
func (t *Tx) InsertActivations(ctx context.Context, as []Activation) error {
	if t.w != nil {
		for _, a := range as {
			t.w.acts.add(actWrite{a: a, isNew: true})
		}
	} else if err := t.insertActivationRows(ctx, as); err != nil {
		return err
	}
	c := t.counters()
	for _, a := range as {
		c.acts[a.ID] = [2]string{a.Email, a.Method}
	}
	return nil
}

func (t *Tx) insertActivationRows(ctx context.Context, as []Activation) error {
	rows := make([][]any, len(as))
	for i, a := range as {
		rows[i] = []any{a.ID, a.InstallKey, a.MachineHash, a.Machine, a.Host, a.Email, a.Method, a.Group,
			a.Seq, a.State, a.Created, a.Updated, a.Released, a.ReleaseReason}
	}
	return t.insertRows(ctx, `INSERT INTO activations (`+activationCols+`)`, 14, rows, "")
}

// InsertAllocations records seats taken, like InsertAllocation, with
// multi-row inserts.
func (t *Tx) InsertAllocations(ctx context.Context, as []Allocation) error {
	if t.w != nil {
		t.w.allocs.add(as...)
	} else if err := t.insertAllocationRows(ctx, as); err != nil {
		return err
	}
	for _, a := range as {
		if err := t.count(ctx, a, +1); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) insertAllocationRows(ctx context.Context, as []Allocation) error {
	rows := make([][]any, len(as))
	for i, a := range as {
		rows[i] = []any{a.Activation, a.Order, a.Product, a.Pool, a.Group, a.Units, a.Created, a.Released}
	}
	return t.insertRows(ctx, `INSERT INTO allocations (`+allocationCols+`)`, 8, rows, "")
}

// VendorKey is a vendor public key the desk signs with.
type VendorKey struct {
	ID      string // key ID, hex
	Public  []byte // Ed25519 public key
	Added   int64
	How     string // "init", "learned" (first signing) or "rotation"
	Removed int64  // when a rotation statement removed it; 0 while listed
}

// VendorKeys returns every vendor key the ledger knows, listed or removed,
// oldest first.
func (t *Tx) VendorKeys(ctx context.Context) ([]VendorKey, error) {
	rows, err := t.queryDirect(ctx, `SELECT key_id, public_key, added, how, removed FROM vendor_keys ORDER BY added, key_id`)
	return collect(rows, err, func(r scanner) (VendorKey, error) {
		var k VendorKey
		err := r.Scan(&k.ID, &k.Public, &k.Added, &k.How, &k.Removed)
		return k, err
	})
}

// InsertVendorKey records a vendor key.
func (t *Tx) InsertVendorKey(ctx context.Context, k VendorKey) error {
	_, err := t.exec(ctx, `INSERT INTO vendor_keys (key_id, public_key, added, how, removed) VALUES (?, ?, ?, ?, 0)`,
		k.ID, k.Public, k.Added, k.How)
	return err
}

// RemoveVendorKey marks a vendor key removed.
func (t *Tx) RemoveVendorKey(ctx context.Context, id string, at int64) error {
	_, err := t.exec(ctx, `UPDATE vendor_keys SET removed = ? WHERE key_id = ? AND removed = 0`, at, id)
	return err
}

// HostGroupHypervisor returns the hypervisor recorded for a per-host group.
func (t *Tx) HostGroupHypervisor(ctx context.Context, grp string) (string, bool, error) {
	if t.w != nil {
		for _, h := range t.w.hosts.rows {
			if h.grp == grp {
				return h.hypervisor, true, nil
			}
		}
	}
	var h string
	err := t.queryRowDirect(ctx, `SELECT hypervisor FROM host_groups WHERE grp = ?`, grp).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return h, err == nil, err
}

// InsertHostGroup records the hypervisor of a per-host group.
func (t *Tx) InsertHostGroup(ctx context.Context, grp, hypervisor string, at int64) error {
	h := hostGroup{grp, hypervisor, at}
	if t.w != nil {
		t.w.hosts.add(h)
		return nil
	}
	return t.insertHostGroupRows(ctx, []hostGroup{h})
}

func (t *Tx) insertHostGroupRows(ctx context.Context, hs []hostGroup) error {
	rows := make([][]any, len(hs))
	for i, h := range hs {
		rows[i] = []any{h.grp, h.hypervisor, h.at}
	}
	return t.insertRows(ctx, `INSERT INTO host_groups (grp, hypervisor, first_seen)`, 3, rows, "")
}
