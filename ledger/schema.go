package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// migration is one schema version. Statements use {{blob}} and {{serial}}
// for the two types the databases spell differently; dialect-specific
// statements are listed separately.
type migration struct {
	common   []string
	sqlite   []string
	postgres []string
}

// migrations are applied in order; version n is migrations[n-1]. Never edit
// a released migration: append a new one.
var migrations = []migration{{
	common: []string{
		`CREATE TABLE products (
			code   TEXT PRIMARY KEY,
			name   TEXT NOT NULL,
			model  TEXT NOT NULL,
			params TEXT NOT NULL
		)`,
		`CREATE TABLE orders (
			order_id    TEXT PRIMARY KEY,
			fulfillment TEXT NOT NULL,
			email       TEXT NOT NULL,
			created     BIGINT NOT NULL
		)`,
		`CREATE TABLE order_lines (
			order_id TEXT NOT NULL REFERENCES orders(order_id),
			product  TEXT NOT NULL REFERENCES products(code),
			seats    BIGINT NOT NULL CHECK (seats > 0),
			expires  BIGINT NOT NULL DEFAULT 0,
			created  BIGINT NOT NULL,
			PRIMARY KEY (order_id, product)
		)`,
		// Named pools of an order line's seats (A12). The default pool,
		// "Default (Unassigned Licenses)", is what no named pool holds.
		`CREATE TABLE pools (
			order_id TEXT NOT NULL,
			product  TEXT NOT NULL,
			name     TEXT NOT NULL,
			seats    BIGINT NOT NULL CHECK (seats >= 0),
			PRIMARY KEY (order_id, product, name),
			FOREIGN KEY (order_id, product) REFERENCES order_lines(order_id, product)
		)`,
		`CREATE TABLE activations (
			id             TEXT PRIMARY KEY,
			install_key    {{blob}} NOT NULL,
			machine_hash   TEXT NOT NULL,
			machine        {{blob}} NOT NULL,
			host           TEXT NOT NULL,
			email          TEXT NOT NULL,
			method         TEXT NOT NULL CHECK (method IN ('offline', 'online')),
			grp            TEXT NOT NULL DEFAULT '',
			seq            BIGINT NOT NULL,
			state          TEXT NOT NULL CHECK (state IN ('active', 'released')),
			created        BIGINT NOT NULL,
			updated        BIGINT NOT NULL,
			released       BIGINT NOT NULL DEFAULT 0,
			release_reason TEXT NOT NULL DEFAULT ''
		)`,
		// One activation per installation at a time.
		`CREATE UNIQUE INDEX activations_active_key ON activations(install_key) WHERE state = 'active'`,
		// Every license issued, so that a repeated request gets the very
		// same license back.
		`CREATE TABLE licenses (
			activation_id TEXT NOT NULL REFERENCES activations(id),
			seq           BIGINT NOT NULL,
			cti           {{blob}} NOT NULL UNIQUE,
			nonce         {{blob}} UNIQUE,
			claims        {{blob}} NOT NULL,
			issued        BIGINT NOT NULL,
			PRIMARY KEY (activation_id, seq)
		)`,
		// Seats held by activations. Released rows stay (released > 0) so
		// that models whose units are consumed for good (deploy) count them.
		`CREATE TABLE allocations (
			activation_id TEXT NOT NULL REFERENCES activations(id),
			order_id      TEXT NOT NULL,
			product       TEXT NOT NULL,
			pool          TEXT NOT NULL,
			grp           TEXT NOT NULL DEFAULT '',
			units         BIGINT NOT NULL CHECK (units > 0),
			created       BIGINT NOT NULL,
			released      BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (activation_id, order_id, product),
			FOREIGN KEY (order_id, product) REFERENCES order_lines(order_id, product)
		)`,
		`CREATE INDEX allocations_line ON allocations(order_id, product)`,
		// E-mail addresses approved for an order (A8), and pending
		// approval requests with a link token (stored hashed) valid 72
		// hours (A7).
		`CREATE TABLE emails (
			order_id      TEXT NOT NULL REFERENCES orders(order_id),
			email         TEXT NOT NULL,
			state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
			token_hash    {{blob}} UNIQUE,
			token_expires BIGINT NOT NULL DEFAULT 0,
			requested     BIGINT NOT NULL,
			decided       BIGINT NOT NULL DEFAULT 0,
			decided_by    TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (order_id, email)
		)`,
		`CREATE TABLE receipts (
			id            {{blob}} PRIMARY KEY,
			activation_id TEXT NOT NULL REFERENCES activations(id),
			seq           BIGINT NOT NULL,
			received      BIGINT NOT NULL
		)`,
		`CREATE TABLE outbox (
			id         {{serial}},
			to_addr    TEXT NOT NULL,
			subject    TEXT NOT NULL,
			body       TEXT NOT NULL,
			created    BIGINT NOT NULL,
			sent_at    BIGINT NOT NULL DEFAULT 0,
			attempts   BIGINT NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE TABLE audit (
			id            {{serial}},
			at            BIGINT NOT NULL,
			actor         TEXT NOT NULL,
			action        TEXT NOT NULL,
			order_id      TEXT NOT NULL DEFAULT '',
			activation_id TEXT NOT NULL DEFAULT '',
			detail        TEXT NOT NULL
		)`,
	},
	// The audit log is append-only, enforced by the database itself.
	sqlite: []string{
		`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
		`CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
	},
	postgres: []string{
		`CREATE FUNCTION oat_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$`,
		`CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
		FOR EACH ROW EXECUTE FUNCTION oat_audit_append_only()`,
	},
}, {
	// Count, don't scan: what holds an order's seats is kept as counters,
	// changed in the same transaction as the allocations they count (see
	// usage.go), so the issue path reads a few rows by primary key instead
	// of every allocation of the order. The counters of an existing ledger
	// are computed here from its allocations.
	common: []string{
		// Units held per order line and pool; pool '' is the whole line.
		`CREATE TABLE pool_usage (
			order_id       TEXT NOT NULL,
			product        TEXT NOT NULL,
			pool           TEXT NOT NULL,
			units          BIGINT NOT NULL DEFAULT 0 CHECK (units >= 0),
			released_units BIGINT NOT NULL DEFAULT 0 CHECK (released_units >= 0),
			groups         BIGINT NOT NULL DEFAULT 0 CHECK (groups >= 0),
			groups_ever    BIGINT NOT NULL DEFAULT 0 CHECK (groups_ever >= 0),
			PRIMARY KEY (order_id, product, pool)
		)`,
		// Allocations per group (hypervisor host, cluster, person) of an
		// order line and pool; pool '' is the whole line.
		`CREATE TABLE group_usage (
			order_id TEXT NOT NULL,
			product  TEXT NOT NULL,
			pool     TEXT NOT NULL,
			grp      TEXT NOT NULL,
			members  BIGINT NOT NULL DEFAULT 0 CHECK (members >= 0),
			ever     BIGINT NOT NULL DEFAULT 0 CHECK (ever >= 0),
			PRIMARY KEY (order_id, product, pool, grp)
		)`,
		`CREATE INDEX group_usage_grp ON group_usage(grp, pool)`,
		// The e-mail addresses and methods of the activations holding
		// seats on an order (A8, A11), with how many active allocations
		// each; a row goes when its count reaches zero.
		`CREATE TABLE order_holders (
			order_id TEXT NOT NULL,
			kind     TEXT NOT NULL CHECK (kind IN ('email', 'method')),
			value    TEXT NOT NULL,
			holders  BIGINT NOT NULL CHECK (holders > 0),
			PRIMARY KEY (order_id, kind, value)
		)`,
		`INSERT INTO pool_usage (order_id, product, pool, units, released_units, groups, groups_ever)
			SELECT order_id, product, pool,
				SUM(CASE WHEN released = 0 THEN units ELSE 0 END), SUM(CASE WHEN released = 0 THEN 0 ELSE units END),
				COUNT(DISTINCT CASE WHEN released = 0 THEN grp END), COUNT(DISTINCT grp)
			FROM allocations GROUP BY order_id, product, pool
			UNION ALL
			SELECT order_id, product, '',
				SUM(CASE WHEN released = 0 THEN units ELSE 0 END), SUM(CASE WHEN released = 0 THEN 0 ELSE units END),
				COUNT(DISTINCT CASE WHEN released = 0 THEN grp END), COUNT(DISTINCT grp)
			FROM allocations GROUP BY order_id, product`,
		`INSERT INTO group_usage (order_id, product, pool, grp, members, ever)
			SELECT order_id, product, pool, grp, SUM(CASE WHEN released = 0 THEN 1 ELSE 0 END), COUNT(*)
			FROM allocations GROUP BY order_id, product, pool, grp
			UNION ALL
			SELECT order_id, product, '', grp, SUM(CASE WHEN released = 0 THEN 1 ELSE 0 END), COUNT(*)
			FROM allocations GROUP BY order_id, product, grp`,
		`INSERT INTO order_holders (order_id, kind, value, holders)
			SELECT l.order_id, 'email', a.email, COUNT(*) FROM allocations l JOIN activations a ON a.id = l.activation_id
			WHERE l.released = 0 GROUP BY l.order_id, a.email
			UNION ALL
			SELECT l.order_id, 'method', a.method, COUNT(*) FROM allocations l JOIN activations a ON a.id = l.activation_id
			WHERE l.released = 0 GROUP BY l.order_id, a.method`,
	},
	// The seats in use, as the desk counts them under the product's
	// model, next to the seats sold, so that the database itself refuses
	// to oversell a line or a named pool (S3). The desk fills them in
	// after this migration (desk.Init), from the counters above.
	sqlite: []string{
		`ALTER TABLE order_lines ADD COLUMN used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= seats)`,
		`ALTER TABLE pools ADD COLUMN used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= seats)`,
	},
	postgres: []string{
		`ALTER TABLE order_lines ADD COLUMN used BIGINT NOT NULL DEFAULT 0,
			ADD CONSTRAINT order_lines_used CHECK (used >= 0 AND used <= seats)`,
		`ALTER TABLE pools ADD COLUMN used BIGINT NOT NULL DEFAULT 0,
			ADD CONSTRAINT pools_used CHECK (used >= 0 AND used <= seats)`,
	},
}, {
	// Version 3 (issue 15): what the rules judge by history, not by the
	// activations that happen to be active now.
	common: []string{
		// Every address that activated on an order (A8, FAQ 2.5/2.6): the
		// first activation's address is free, any later different one
		// needs approval, even after every server was released.
		`CREATE TABLE order_addresses (
			order_id   TEXT NOT NULL REFERENCES orders(order_id),
			email      TEXT NOT NULL,
			first_seen BIGINT NOT NULL,
			PRIMARY KEY (order_id, email)
		)`,
		`INSERT INTO order_addresses (order_id, email, first_seen)
			SELECT l.order_id, a.email, MIN(a.created) FROM allocations l JOIN activations a ON a.id = l.activation_id
			GROUP BY l.order_id, a.email`,
		// The owner of each seat of a model licensed to a person (IT Pro,
		// B22): the seat stays the engineer's when the medium is
		// released, its year runs from first_activated, and only the
		// desk's audited reassign gives it to another address.
		`CREATE TABLE seat_owners (
			order_id        TEXT NOT NULL,
			product         TEXT NOT NULL,
			owner           TEXT NOT NULL,
			first_activated BIGINT NOT NULL,
			PRIMARY KEY (order_id, product, owner),
			FOREIGN KEY (order_id, product) REFERENCES order_lines(order_id, product)
		)`,
		`INSERT INTO seat_owners (order_id, product, owner, first_activated)
			SELECT l.order_id, l.product, l.grp, MIN(l.created) FROM allocations l JOIN products p ON p.code = l.product
			WHERE p.params LIKE '%"group":"person"%'
			GROUP BY l.order_id, l.product, l.grp`,
	},
}, {
	// Version 4 (issue 17): named desk staff and their sessions.
	common: []string{
		// Desk staff, each with their own argon2id password hash, so that
		// the audit log names a person, not a shared secret.
		`CREATE TABLE staff (
			name     TEXT PRIMARY KEY,
			password TEXT NOT NULL,
			created  BIGINT NOT NULL,
			updated  BIGINT NOT NULL
		)`,
		// Staff sessions live here, not in a signed cookie, so that
		// signing out, a new password or removing the member ends them.
		// The cookie holds a random token; only its SHA-256 is stored.
		`CREATE TABLE staff_sessions (
			id      {{blob}} PRIMARY KEY,
			staff   TEXT NOT NULL REFERENCES staff(name),
			created BIGINT NOT NULL,
			expires BIGINT NOT NULL
		)`,
		`CREATE INDEX staff_sessions_staff ON staff_sessions(staff)`,
		// The computer an approval was asked for, shown to the approver.
		`ALTER TABLE emails ADD COLUMN host TEXT NOT NULL DEFAULT ''`,
	},
}, {
	// The vendor keys the desk signs with (issue 12): issue, update, move
	// and the portal refuse any other key. A ledger made without one learns
	// the key of its first signing; a rotation statement adds or removes
	// one. Removed keys stay, marked, and are never listed again. Each
	// license records the key that signed it, so that a repeated request
	// is answered with the same bytes or refused.
	common: []string{
		`CREATE TABLE vendor_keys (
			key_id     TEXT PRIMARY KEY,
			public_key {{blob}} NOT NULL,
			added      BIGINT NOT NULL,
			how        TEXT NOT NULL,
			removed    BIGINT NOT NULL DEFAULT 0
		)`,
		// Only one first-signing key can ever be learned, even by two
		// desks signing their first license at once.
		`CREATE UNIQUE INDEX vendor_keys_learned ON vendor_keys(how) WHERE how = 'learned'`,
		`ALTER TABLE licenses ADD COLUMN signer TEXT NOT NULL DEFAULT ''`,
	},
}, {
	// Per-host groups named by the operator for VMs (issue 12): the
	// hypervisor the first VM in a group reported, so that a guest of
	// another hypervisor is refused in it.
	common: []string{
		`CREATE TABLE host_groups (
			grp        TEXT PRIMARY KEY,
			hypervisor TEXT NOT NULL,
			first_seen BIGINT NOT NULL
		)`,
	},
}, {
	// Version 7 (issue 15): the registration mail of every activation
	// (FAQ 2.1, 2.9, 2.11): its link token (stored hashed), valid 72
	// hours, and when the address was confirmed.
	common: []string{
		`CREATE TABLE registrations (
			activation_id TEXT PRIMARY KEY REFERENCES activations(id),
			order_id      TEXT NOT NULL,
			email         TEXT NOT NULL,
			host          TEXT NOT NULL,
			token_hash    {{blob}} NOT NULL UNIQUE,
			token_expires BIGINT NOT NULL,
			sent          BIGINT NOT NULL,
			verified      BIGINT NOT NULL DEFAULT 0
		)`,
	},
}, {
	// Version 8 (issue 15): an order line the desk cancelled stays (its
	// allocations and audit refer to it) but takes no new activation.
	common: []string{
		`ALTER TABLE order_lines ADD COLUMN cancelled BIGINT NOT NULL DEFAULT 0`,
	},
}, {
	// Version 9 (issue 16): a registration link names its activation
	// (Tx.RegistrationByToken), so the token hash needs no index of its
	// own. A unique index on a hash is a random key: every activation
	// wrote a page of it at commit. Links mailed before this version
	// carry only the token; their rows keep by_hash = 1 and a partial
	// index finds them, until a new link replaces theirs.
	sqlite: []string{
		// SQLite cannot drop a column's UNIQUE: the table is rebuilt.
		`CREATE TABLE registrations_v9 (
			activation_id TEXT PRIMARY KEY REFERENCES activations(id),
			order_id      TEXT NOT NULL,
			email         TEXT NOT NULL,
			host          TEXT NOT NULL,
			token_hash    BLOB NOT NULL,
			token_expires BIGINT NOT NULL,
			sent          BIGINT NOT NULL,
			verified      BIGINT NOT NULL DEFAULT 0,
			by_hash       BIGINT NOT NULL DEFAULT 0
		)`,
		`INSERT INTO registrations_v9 (activation_id, order_id, email, host, token_hash, token_expires, sent, verified, by_hash)
			SELECT activation_id, order_id, email, host, token_hash, token_expires, sent, verified, 1 FROM registrations`,
		`DROP TABLE registrations`,
		`ALTER TABLE registrations_v9 RENAME TO registrations`,
		`CREATE UNIQUE INDEX registrations_by_hash ON registrations(token_hash) WHERE by_hash = 1`,
	},
	postgres: []string{
		`ALTER TABLE registrations DROP CONSTRAINT registrations_token_hash_key`,
		`ALTER TABLE registrations ADD COLUMN by_hash BIGINT NOT NULL DEFAULT 0`,
		`UPDATE registrations SET by_hash = 1`,
		`CREATE UNIQUE INDEX registrations_by_hash ON registrations(token_hash) WHERE by_hash = 1`,
	},
}}

// SchemaVersion is the newest schema this oat knows.
var SchemaVersion = len(migrations)

func (m migration) statements(d Dialect) []string {
	var out []string
	r := strings.NewReplacer("{{blob}}", "BLOB", "{{serial}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
	extra := m.sqlite
	if d == Postgres {
		r = strings.NewReplacer("{{blob}}", "BYTEA", "{{serial}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
		extra = m.postgres
	}
	for _, s := range m.common {
		out = append(out, r.Replace(s))
	}
	return append(out, extra...)
}

const versionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	applied BIGINT NOT NULL
)`

// Migrate brings the schema up to SchemaVersion in one transaction and
// returns the versions before and after. It refuses a schema newer than
// this oat knows.
func (d *DB) Migrate(ctx context.Context) (from, to int, err error) {
	return d.migrate(ctx, SchemaVersion)
}

// migrate brings the schema up to version target.
func (d *DB) migrate(ctx context.Context, target int) (from, to int, err error) {
	err = d.Update(ctx, func(t *Tx) error {
		if d.dialect == Postgres {
			// Two desks running init at once take turns.
			if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock(7301220)`); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, versionTable); err != nil {
			return err
		}
		v, err := t.schemaVersion(ctx)
		if err != nil {
			return err
		}
		from = v
		if v > SchemaVersion {
			return fmt.Errorf("%w (schema %d, this oat knows %d)", ErrSchemaTooNew, v, SchemaVersion)
		}
		for n := v + 1; n <= target; n++ {
			for _, s := range migrations[n-1].statements(d.dialect) {
				if _, err := t.exec(ctx, s); err != nil {
					return fmt.Errorf("migration %d: %w", n, err)
				}
			}
			if _, err := t.exec(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, n, time.Now().Unix()); err != nil {
				return err
			}
		}
		to = max(v, target)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("ledger %s: %w", d.name, err)
	}
	return from, to, nil
}

// Check returns nil if the ledger's schema is the one this oat knows,
// ErrNotInitialized if it is missing or older, ErrSchemaTooNew if newer.
func (d *DB) Check(ctx context.Context) error {
	var v int
	err := d.View(ctx, func(t *Tx) error {
		var err error
		v, err = t.schemaVersion(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.name, err)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("ledger %s: %w (schema %d, this oat knows %d)", d.name, ErrSchemaTooNew, v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("ledger %s: %w (schema %d, this oat knows %d)", d.name, ErrNotInitialized, v, SchemaVersion)
	}
	return nil
}

// schemaVersion reads the applied version, 0 when there is no ledger.
func (t *Tx) schemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if t.dialect == Postgres {
		if err := t.queryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return 0, err
		}
	} else {
		var n int
		if err := t.queryRow(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
			return 0, err
		}
		exists = n > 0
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
