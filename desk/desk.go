// Package desk is the vendor's license desk: it loads the product catalog,
// takes orders, answers activation requests with signed licenses, issues
// updated licenses for an activation, takes seats back on release, and
// keeps e-mail approvals, all recorded in the ledger.
//
// Every operation is one ledger transaction that checks, allocates and
// records the activation and its audit entries together; the license file
// is signed only after that transaction commits (S3), from the claims it
// stored, so a repeated request gets the very same license back.
package desk

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
)

// The errors the desk's refusals wrap, so that callers (the CLI, the
// portal) can branch on the kind of refusal.
var (
	ErrBadFile         = errors.New("not a valid file")
	ErrNotEntitled     = errors.New("not entitled")
	ErrNoSeats         = errors.New("no free seats")
	ErrPendingApproval = errors.New("waiting for approval")
	ErrConflict        = errors.New("conflicts with the ledger")
	ErrNotFound        = ledger.ErrNotFound
	ErrExpired         = errors.New("the link has expired")
	ErrInvalidInput    = errors.New("invalid input")
	// ErrReleased refuses a request or file of an activation that was
	// released, released as stale, or moved: its seats are gone.
	ErrReleased = errors.New("the activation was released")
	// ErrSuperseded refuses a request or receipt that names a license a
	// newer license of the same activation has replaced.
	ErrSuperseded = errors.New("names a superseded license")
	// ErrWrongOrder is the one answer to an unknown order ID and to a
	// wrong fulfillment number, so that nobody learns which order IDs
	// exist: the fulfillment number is the order's only secret (A1).
	ErrWrongOrder = fmt.Errorf("%w", ErrNotEntitled)
)

// wrongOrder refuses a request whose order ID and fulfillment number are
// not an order's, in the same words whether or not the order exists.
func wrongOrder() error {
	return fmt.Errorf("%w: no order has this order ID and fulfillment number (A1)", ErrWrongOrder)
}

// Methods of activation (A11).
const (
	Offline = "offline"
	Online  = "online"
)

// ApprovalTTL is how long an approval link stays valid (A7).
const ApprovalTTL = 72 * time.Hour

// Options configure a Desk.
type Options struct {
	// Name is the desk's name, the iss claim of its licenses.
	Name string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Desk is a license desk over a ledger. It is safe for concurrent use, and
// several Desks (in several processes) may share one PostgreSQL ledger.
type Desk struct {
	db   *ledger.DB
	name string
	now  func() time.Time
	// beforeCommit, when set by tests, runs inside the issue transaction
	// after the seats are allocated; an error aborts it like a crash.
	beforeCommit func() error
}

// DefaultName is the iss claim when Options.Name is empty.
const DefaultName = "oat license desk"

// New returns a desk over db.
func New(db *ledger.DB, o Options) *Desk {
	d := &Desk{db: db, name: o.Name, now: o.Now}
	if d.name == "" {
		d.name = DefaultName
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// DB returns the desk's ledger.
func (d *Desk) DB() *ledger.DB { return d.db }

// Init migrates the ledger and loads the catalog.
func Init(ctx context.Context, db *ledger.DB, c *Catalog) (from, to int, err error) {
	from, to, err = db.Migrate(ctx)
	if err != nil {
		return from, to, err
	}
	return from, to, New(db, Options{}).LoadCatalog(ctx, c, "desk")
}

// LoadCatalog stores the catalog's products with their license models.
// Products missing from c stay: orders may name them.
func (d *Desk) LoadCatalog(ctx context.Context, c *Catalog, actor string) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		for _, p := range c.Products {
			params, err := json.Marshal(c.Models[p.Model])
			if err != nil {
				return err
			}
			if err := tx.PutProduct(ctx, ledger.Product{Code: p.Code, Name: p.Name, Model: p.Model, Params: string(params)}); err != nil {
				return fmt.Errorf("catalog: product %s: %w", p.Code, err)
			}
		}
		// A model decides how units count as seats: record every line's
		// seats in use under the models just loaded. This is also what
		// fills them in on a ledger the counters were just added to.
		if err := recount(ctx, tx); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "catalog.load", "", "", map[string]any{"products": len(c.Products)})
	})
}

// recount records the seats in use on every order line and named pool,
// from the ledger's counters, refusing a line that would hold more seats
// than it has.
func recount(ctx context.Context, tx *ledger.Tx) error {
	ids, err := tx.OrderIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		lines, err := tx.Lines(ctx, id)
		if err != nil {
			return err
		}
		pools, err := tx.Pools(ctx, id)
		if err != nil {
			return err
		}
		for _, l := range lines {
			_, m, err := product(ctx, tx, l.Product)
			if err != nil {
				return err
			}
			st, err := newLineState(tx, id, l.Product, m, lines, pools)
			if err != nil {
				return err
			}
			names := []string{""}
			for n := range st.named {
				names = append(names, n)
			}
			for _, n := range names {
				used, err := st.used(ctx, n, nil)
				if err != nil {
					return err
				}
				if have := st.line.Seats; n != "" {
					have = st.named[n]
					if used > have {
						return fmt.Errorf("%w: pool %q of %s on order %s would have %d seats in use of %d under model %s", ErrConflict, n, l.Product, id, used, have, m.Description)
					}
				} else if used > have {
					return fmt.Errorf("%w: order %s would have %d seats of %s in use of %d under model %s", ErrConflict, id, used, l.Product, have, m.Description)
				}
			}
			if err := st.record(ctx, names[1:]...); err != nil {
				return err
			}
		}
	}
	return nil
}

// product reads a catalog product and its model from the ledger.
func product(ctx context.Context, tx *ledger.Tx, code string) (ledger.Product, Model, error) {
	p, err := tx.Product(ctx, code)
	if errors.Is(err, ledger.ErrNotFound) {
		return p, Model{}, fmt.Errorf("%w: unknown product %s", ErrNotEntitled, code)
	}
	if err != nil {
		return p, Model{}, err
	}
	var m Model
	if err := json.Unmarshal([]byte(p.Params), &m); err != nil {
		return p, m, fmt.Errorf("product %s: damaged model in the ledger: %w", code, err)
	}
	return p, m, nil
}

// audit appends an audit entry with a JSON detail.
func audit(ctx context.Context, tx *ledger.Tx, at int64, actor, action, order, activation string, detail any) error {
	e, err := auditEntry(at, actor, action, order, activation, detail)
	if err != nil {
		return err
	}
	return tx.Audit(ctx, e)
}

func auditEntry(at int64, actor, action, order, activation string, detail any) (ledger.AuditEntry, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return ledger.AuditEntry{}, err
	}
	if actor == "" {
		actor = "desk"
	}
	return ledger.AuditEntry{At: at, Actor: actor, Action: action, Order: order, Activation: activation, Detail: string(b)}, nil
}

// newID returns a unique identifier with a prefix, e.g. "act-…": the
// time in milliseconds then 48 random bits, in base32hex, whose order is
// the bytes' order. IDs made one after the other thus sort together, and
// the ledger's indexes on them (activations, their licenses and
// allocations) grow at their right-hand end instead of touching a random
// page each: a commit writes fewer pages. A collision needs two IDs in the
// same millisecond with the same 48 bits; the ledger's primary key refuses
// it and the transaction is retried with new IDs.
func newID(prefix string) string {
	return prefix + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(timeOrdered(12)))
}

// timeOrdered returns n ≥ 6 bytes: the current Unix time in milliseconds,
// big-endian in the first six, then random bytes.
func timeOrdered(n int) []byte {
	b := make([]byte, n)
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return b
}

// normEmail is the form e-mail addresses are compared and stored in.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func timeUTC(unix int64) time.Time { return time.Unix(unix, 0).UTC() }

func keysID(pub []byte) keys.ID { return keys.KeyID(ed25519.PublicKey(pub)) }

// orDefault names the pool "" stands for.
func orDefault(pool string) string {
	if pool == "" {
		return ledger.DefaultPool
	}
	return pool
}
