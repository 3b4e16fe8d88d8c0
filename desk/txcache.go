package desk

import (
	"context"

	"github.com/oat-toolkit/oat/ledger"
)

// txCache remembers, within one ledger transaction, what the issue path
// reads more than once: catalog products, orders and their lines and
// pools, each order line's allocations, and the orders whose method is
// checked. Issuing never changes products, orders, lines or pools; the
// allocations it adds go through allocate, which appends them to the
// cached line. So a batch reads each of these once instead of once per
// request, and what it reads is still covered by the transaction's locks
// (the SQLite write lock, or the orders locked FOR UPDATE on PostgreSQL).
//
// A txCache belongs to one transaction attempt: make a new one when the
// transaction is retried. Code that changes allocations other than through
// allocate (releases, pool moves) must read line state afresh with
// lineState, not from the cache. A request refused in a group transaction
// takes back what it changed here with mark and restore.
type txCache struct {
	tx       *ledger.Tx
	signer   string                  // key ID of the vendor key the licenses are signed with
	orders   map[string]ledger.Order // locked by the transaction, or read
	products map[string]cachedProduct
	lines    map[string][]ledger.Line
	pools    map[string][]ledger.Pool
	states   map[[2]string]*line // by order and product
	methodOK map[string]string   // order → the method checked against it

}

type cachedProduct struct {
	p ledger.Product
	m Model
}

func newTxCache(tx *ledger.Tx, locked map[string]ledger.Order) *txCache {
	c := &txCache{tx: tx, orders: map[string]ledger.Order{}, products: map[string]cachedProduct{},
		lines: map[string][]ledger.Line{}, pools: map[string][]ledger.Pool{}, states: map[[2]string]*line{},
		methodOK: map[string]string{}}
	for id, o := range locked {
		c.orders[id] = o
	}
	return c
}

// product is desk.product, read once per transaction. Errors are not
// kept: the transaction fails with them anyway.
func (c *txCache) product(ctx context.Context, code string) (ledger.Product, Model, error) {
	if p, ok := c.products[code]; ok {
		return p.p, p.m, nil
	}
	p, m, err := product(ctx, c.tx, code)
	if err == nil {
		c.products[code] = cachedProduct{p, m}
	}
	return p, m, err
}

func (c *txCache) order(ctx context.Context, id string) (ledger.Order, error) {
	if o, ok := c.orders[id]; ok {
		return o, nil
	}
	o, err := c.tx.Order(ctx, id)
	if err == nil {
		c.orders[id] = o
	}
	return o, err
}

func (c *txCache) orderLines(ctx context.Context, order string) ([]ledger.Line, error) {
	if l, ok := c.lines[order]; ok {
		return l, nil
	}
	l, err := c.tx.Lines(ctx, order)
	if err == nil {
		c.lines[order] = l
	}
	return l, err
}

func (c *txCache) orderPools(ctx context.Context, order string) ([]ledger.Pool, error) {
	if p, ok := c.pools[order]; ok {
		return p, nil
	}
	p, err := c.tx.Pools(ctx, order)
	if err == nil {
		c.pools[order] = p
	}
	return p, err
}

// lineState is the state of an order line, read once per transaction and
// kept current by allocate.
func (c *txCache) lineState(ctx context.Context, order, code string, m Model) (*line, error) {
	k := [2]string{order, code}
	if st, ok := c.states[k]; ok {
		return st, nil
	}
	lines, err := c.orderLines(ctx, order)
	if err != nil {
		return nil, err
	}
	pools, err := c.orderPools(ctx, order)
	if err != nil {
		return nil, err
	}
	st, err := newLineState(c.tx, order, code, m, lines, pools)
	if err == nil {
		c.states[k] = st
	}
	return st, err
}

// checkMethod is checkMethod, once per order: the activations this
// transaction adds or extends on an order all use the method checked, so
// the answer cannot change within it.
func (c *txCache) checkMethod(ctx context.Context, order, method string) error {
	if m, ok := c.methodOK[order]; ok && m == method {
		return nil
	}
	if err := checkMethod(ctx, c.tx, order, method); err != nil {
		return err
	}
	c.methodOK[order] = method
	return nil
}

func (c *txCache) insertLicense(ctx context.Context, l ledger.License) error {
	return c.tx.InsertLicense(ctx, l)
}

func (c *txCache) audit(ctx context.Context, at int64, actor, action, order, activation string, detail any) error {
	return audit(ctx, c.tx, at, actor, action, order, activation, detail)
}

// cacheMark is what a request may change in a txCache, to take back: the
// seat owners its line states hold (takeOwnedSeat adds to them).
type cacheMark map[*line]ownersMark

type ownersMark struct {
	n    int
	read bool
}

func (c *txCache) mark() cacheMark {
	m := make(cacheMark, len(c.states))
	for _, st := range c.states {
		m[st] = ownersMark{len(st.owners), st.ownersRead}
	}
	return m
}

// restore takes back what a request changed since mark: line states it
// read are forgotten (read again, they show what the ledger holds then),
// and the seat owners it added to the others are dropped.
func (c *txCache) restore(m cacheMark) {
	for k, st := range c.states {
		om, ok := m[st]
		if !ok {
			delete(c.states, k)
			continue
		}
		st.owners, st.ownersRead = st.owners[:om.n], om.read
		if !om.read {
			st.owners = nil
		}
	}
}
