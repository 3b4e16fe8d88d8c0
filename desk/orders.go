package desk

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/termsafe"
)

// OrderLine is one product bought on an order: what `oat desk order add`
// and the orders file carry. Lines with the same order ID share its
// fulfillment number and purchaser e-mail (A2).
type OrderLine struct {
	Order       string `json:"order"`
	Fulfillment string `json:"fulfillment"`
	Email       string `json:"email"` // the purchaser's address; may be empty (A8)
	Product     string `json:"product"`
	Seats       int64  `json:"seats"`
	Expires     string `json:"expires,omitempty"` // YYYY-MM-DD, the last day of a subscription (B1)
}

// MaxSeats bounds the seats of one order line.
const MaxSeats = 1_000_000

func validText(field, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidInput, field)
	case len(s) > max:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidInput, field, max)
	case !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n\t"):
		return fmt.Errorf("%w: %s has control characters", ErrInvalidInput, field)
	}
	return nil
}

// ParseExpiry turns YYYY-MM-DD (the last day) into the Unix time the
// subscription ends: the end of that day, UTC. "" is perpetual (0).
func ParseExpiry(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, fmt.Errorf("%w: expiry %q is not a date YYYY-MM-DD", ErrInvalidInput, s)
	}
	return t.Add(24*time.Hour - time.Second).Unix(), nil
}

func (l *OrderLine) validate() (expires int64, err error) {
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"order", l.Order, true}, {"fulfillment number", l.Fulfillment, true}, {"e-mail", l.Email, false}, {"product", l.Product, true}} {
		if err := validText(f.name, f.v, 200, f.required); err != nil {
			return 0, err
		}
		// The rule for a value typed on the command line: the desk types
		// an orders file too. (A request's host name is the customer's
		// text, accepted and escaped wherever it is shown.)
		if err := termsafe.Check(f.v); err != nil {
			return 0, fmt.Errorf("%w: %s %v", ErrInvalidInput, f.name, err)
		}
	}
	if l.Email != "" && !strings.Contains(l.Email, "@") {
		return 0, fmt.Errorf("%w: e-mail %q is not an address", ErrInvalidInput, l.Email)
	}
	if l.Seats < 1 || l.Seats > MaxSeats {
		return 0, fmt.Errorf("%w: seats must be 1 to %d, not %d", ErrInvalidInput, MaxSeats, l.Seats)
	}
	return ParseExpiry(l.Expires)
}

// AddOrder records a product line on an order, creating the order if it is
// new. Adding a line to an existing order needs its fulfillment number and
// purchaser e-mail.
func (d *Desk) AddOrder(ctx context.Context, l OrderLine, actor string) error {
	return d.ImportOrders(ctx, []OrderLine{l}, actor)
}

// ImportOrders records many order lines in one transaction: all or none.
func (d *Desk) ImportOrders(ctx context.Context, lines []OrderLine, actor string) error {
	if len(lines) == 0 {
		return fmt.Errorf("%w: no order lines", ErrInvalidInput)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		for i, l := range lines {
			if err := d.addLine(ctx, tx, l, now, actor); err != nil {
				if len(lines) > 1 {
					return fmt.Errorf("order line %d (%s %s): %w", i+1, l.Order, l.Product, err)
				}
				return err
			}
		}
		return nil
	})
}

func (d *Desk) addLine(ctx context.Context, tx *ledger.Tx, l OrderLine, now int64, actor string) error {
	l.Order, l.Fulfillment, l.Product = strings.TrimSpace(l.Order), strings.TrimSpace(l.Fulfillment), strings.TrimSpace(l.Product)
	l.Email = normEmail(l.Email)
	expires, err := l.validate()
	if err != nil {
		return err
	}
	if expires != 0 && expires < now {
		return fmt.Errorf("%w: the subscription's last day %s is in the past", ErrInvalidInput, l.Expires)
	}
	if _, _, err := product(ctx, tx, l.Product); err != nil {
		return err
	}
	orders, err := tx.LockOrders(ctx, l.Order)
	if err != nil {
		return err
	}
	o, exists := orders[l.Order]
	switch {
	case !exists:
		o = ledger.Order{ID: l.Order, Fulfillment: l.Fulfillment, Email: l.Email, Created: now}
		if err := tx.InsertOrder(ctx, o); err != nil {
			return err
		}
	case o.Fulfillment != l.Fulfillment:
		return fmt.Errorf("%w: order %s exists with another fulfillment number", ErrConflict, l.Order)
	case o.Email != l.Email:
		return fmt.Errorf("%w: order %s exists with purchaser e-mail %q", ErrConflict, l.Order, o.Email)
	}
	lines, err := tx.Lines(ctx, l.Order)
	if err != nil {
		return err
	}
	for _, x := range lines {
		if x.Product == l.Product {
			return fmt.Errorf("%w: order %s already has %s", ErrConflict, l.Order, l.Product)
		}
	}
	if err := tx.InsertLine(ctx, ledger.Line{Order: l.Order, Product: l.Product, Seats: l.Seats, Expires: expires, Created: now}); err != nil {
		return err
	}
	return audit(ctx, tx, now, actor, "order.add", l.Order, "", map[string]any{
		"product": l.Product, "seats": l.Seats, "expires": l.Expires, "email": l.Email})
}

// ordersFile is the orders file: {"orders": [OrderLine...]}.
type ordersFile struct {
	Orders []OrderLine `json:"orders"`
}

// ParseOrders decodes an orders file.
func ParseOrders(data []byte) ([]OrderLine, error) {
	if len(data) > MaxCatalogFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxCatalogFile)
	}
	var f ordersFile
	if err := strictJSON(data, &f); err != nil {
		return nil, err
	}
	if len(f.Orders) == 0 {
		return nil, errors.New(`no "orders"`)
	}
	return f.Orders, nil
}

// ReadOrders reads an orders file.
func ReadOrders(path string) ([]OrderLine, error) {
	data, err := atomicfile.ReadCapped(path, MaxCatalogFile)
	if err != nil {
		return nil, fmt.Errorf("orders %s: %w", path, err)
	}
	lines, err := ParseOrders(data)
	if err != nil {
		return nil, fmt.Errorf("orders %s: %w", path, err)
	}
	return lines, nil
}

// SetPool creates, resizes or (seats 0) removes a named license pool on an
// order line (A12). A pool cannot shrink below the seats in use in it, and
// the named pools together cannot hold more than the line.
func (d *Desk) SetPool(ctx context.Context, order, productCode, name string, seats int64, actor string) error {
	if err := validText("pool name", name, 100, true); err != nil {
		return err
	}
	if name == ledger.DefaultPool {
		return fmt.Errorf("%w: the default pool holds what the named pools do not; resize those", ErrInvalidInput)
	}
	if seats < 0 || seats > MaxSeats {
		return fmt.Errorf("%w: seats must be 0 to %d", ErrInvalidInput, MaxSeats)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		orders, err := tx.LockOrders(ctx, order)
		if err != nil {
			return err
		}
		if _, ok := orders[order]; !ok {
			return fmt.Errorf("%w: order %s", ErrNotFound, order)
		}
		_, m, err := product(ctx, tx, productCode)
		if err != nil {
			return err
		}
		st, err := lineState(ctx, tx, order, productCode, m)
		if err != nil {
			return err
		}
		named := int64(0)
		for n, s := range st.named {
			if n != name {
				named += s
			}
		}
		if named+seats > st.line.Seats {
			return fmt.Errorf("%w: order %s has %d seats of %s; the named pools would hold %d", ErrNoSeats, order, st.line.Seats, productCode, named+seats)
		}
		used, err := st.used(ctx, name, nil)
		if err != nil {
			return err
		}
		if used > seats {
			return fmt.Errorf("%w: pool %q of %s on order %s has %d seats in use", ErrConflict, name, productCode, order, used)
		}
		st.named[name] = seats
		if used, err = st.used(ctx, ledger.DefaultPool, nil); err != nil {
			return err
		}
		if used > st.poolSeats(ledger.DefaultPool) {
			return fmt.Errorf("%w: the default pool of %s on order %s has %d seats in use", ErrConflict, productCode, order, used)
		}
		if err := tx.PutPool(ctx, ledger.Pool{Order: order, Product: productCode, Name: name, Seats: seats}); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "pool.set", order, "", map[string]any{"product": productCode, "pool": name, "seats": seats})
	})
}

// checkFulfillment compares fulfillment numbers in constant time: they
// work like a password for the order.
func checkFulfillment(o ledger.Order, fn string) bool {
	return subtle.ConstantTimeCompare([]byte(o.Fulfillment), []byte(strings.TrimSpace(fn))) == 1
}

// RenamePool renames a named license pool of an order line (A12: "name
// and counts can change"). The seats it holds and the activations drawn
// from it stay; their licenses name the old pool until the desk updates
// them (oat desk update), as for any pool change.
func (d *Desk) RenamePool(ctx context.Context, order, productCode, from, to, actor string) error {
	for _, n := range []string{from, to} {
		if err := validText("pool name", n, 100, true); err != nil {
			return err
		}
		if n == ledger.DefaultPool {
			return fmt.Errorf("%w: the default pool keeps its name", ErrInvalidInput)
		}
	}
	if from == to {
		return fmt.Errorf("%w: pool %q is called that already", ErrInvalidInput, to)
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		orders, err := tx.LockOrders(ctx, order)
		if err != nil {
			return err
		}
		if _, ok := orders[order]; !ok {
			return fmt.Errorf("%w: order %s", ErrNotFound, order)
		}
		_, m, err := product(ctx, tx, productCode)
		if err != nil {
			return err
		}
		st, err := lineState(ctx, tx, order, productCode, m)
		if err != nil {
			return err
		}
		if _, ok := st.named[from]; !ok {
			return fmt.Errorf("%w: order %s has no pool %q for %s", ErrNotFound, order, from, productCode)
		}
		if _, ok := st.named[to]; ok {
			return fmt.Errorf("%w: order %s has a pool %q for %s already", ErrConflict, order, to, productCode)
		}
		if err := tx.RenamePool(ctx, order, productCode, from, to); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "pool.rename", order, "", map[string]any{"product": productCode, "pool": from, "name": to})
	})
}
