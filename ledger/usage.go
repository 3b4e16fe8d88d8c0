package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Count, don't scan. What holds an order's seats is kept as counters, so
// that a check on the issue path reads a few rows by primary key, whatever
// the number of activations already on the order:
//
//   - pool_usage: per order line and pool (pool "" is the whole line), the
//     units held by active allocations and by released ones, and the groups
//     holding active allocations or any allocation;
//   - group_usage: per order line, pool and group, its active allocations
//     and all of them;
//   - order_holders: per order, the e-mail addresses and methods of the
//     activations holding seats on it (A8, A11);
//   - order_lines.used and pools.used: the seats in use as the desk counts
//     them under the product's model, which the database checks against the
//     seats sold (CHECK used <= seats).
//
// InsertAllocation, UpdateAllocation and UpdateActivation keep the first
// three current themselves, so no caller can forget them. Within a
// transaction the changes are gathered in memory (reads see them) and
// written once per counter row when the transaction commits, so a batch of
// a thousand activations on one line writes its counters once, not a
// thousand times. The rows they change belong to orders the transaction
// has locked (LockOrders), so the values read stay true until commit.

// Usage is what holds seats in one pool of an order line, or in the whole
// line.
type Usage struct {
	Units         int64 // units of active allocations
	ReleasedUnits int64 // units of released allocations (consumed models still count them, B23)
	Groups        int64 // groups holding an active allocation
	GroupsEver    int64 // groups holding any allocation, released ones too
}

func (u *Usage) add(d Usage) {
	u.Units += d.Units
	u.ReleasedUnits += d.ReleasedUnits
	u.Groups += d.Groups
	u.GroupsEver += d.GroupsEver
}

// GroupUsage is the allocations of one group in one pool of an order line,
// or in the whole line.
type GroupUsage struct {
	Members int64 // active allocations
	Ever    int64 // all allocations, released ones too
}

type usageKey struct{ order, product, pool string }
type groupKey struct{ order, product, pool, grp string }
type holderKey struct{ order, kind, value string }

// counters is a transaction's view of the counters: values read from the
// database (base) and what the transaction changed since (delta).
type counters struct {
	usageBase  map[usageKey]Usage
	usageDelta map[usageKey]*Usage
	groupBase  map[groupKey]GroupUsage
	groupDelta map[groupKey]*GroupUsage
	holderBase map[string]map[holderKey]int64 // by order
	holderDel  map[holderKey]int64
	used       map[usageKey]int64
	// acts is the e-mail and method of activations as this transaction
	// wrote or read them, so that an allocation does not read them again.
	acts map[string][2]string
}

func (t *Tx) counters() *counters {
	if t.c == nil {
		t.c = &counters{
			usageBase: map[usageKey]Usage{}, usageDelta: map[usageKey]*Usage{},
			groupBase: map[groupKey]GroupUsage{}, groupDelta: map[groupKey]*GroupUsage{},
			holderBase: map[string]map[holderKey]int64{}, holderDel: map[holderKey]int64{},
			used: map[usageKey]int64{}, acts: map[string][2]string{},
		}
	}
	return t.c
}

// Usage returns what holds seats in a pool of an order line; pool "" is
// the whole line. A line nothing was ever allocated on has zero usage.
func (t *Tx) Usage(ctx context.Context, order, product, pool string) (Usage, error) {
	c := t.counters()
	k := usageKey{order, product, pool}
	u, ok := c.usageBase[k]
	if !ok {
		err := t.queryRowDirect(ctx, `SELECT units, released_units, groups, groups_ever FROM pool_usage
			WHERE order_id = ? AND product = ? AND pool = ?`, order, product, pool).
			Scan(&u.Units, &u.ReleasedUnits, &u.Groups, &u.GroupsEver)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Usage{}, err
		}
		c.usageBase[k] = u
	}
	if d := c.usageDelta[k]; d != nil {
		u.add(*d)
	}
	return u, nil
}

// GroupUsage returns the allocations of a group in a pool of an order
// line; pool "" is the whole line.
func (t *Tx) GroupUsage(ctx context.Context, order, product, pool, grp string) (GroupUsage, error) {
	c := t.counters()
	k := groupKey{order, product, pool, grp}
	g, ok := c.groupBase[k]
	if !ok {
		err := t.queryRowDirect(ctx, `SELECT members, ever FROM group_usage
			WHERE order_id = ? AND product = ? AND pool = ? AND grp = ?`, order, product, pool, grp).Scan(&g.Members, &g.Ever)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return GroupUsage{}, err
		}
		c.groupBase[k] = g
	}
	if d := c.groupDelta[k]; d != nil {
		g.Members += d.Members
		g.Ever += d.Ever
	}
	return g, nil
}

// SetUsed records the seats in use in a named pool, or with pool "" on
// the whole order line, as the desk counts them. The database refuses a
// value above the seats sold when the transaction writes it (at commit,
// or before a pool is resized). The default pool has no row of its own:
// the line's figure covers it.
func (t *Tx) SetUsed(order, product, pool string, used int64) {
	if pool == DefaultPool {
		return
	}
	t.counters().used[usageKey{order, product, pool}] = used
}

// holders returns an order's holders of one kind, with the transaction's
// changes.
func (t *Tx) holders(ctx context.Context, order, kind string) ([]string, error) {
	c := t.counters()
	base, ok := c.holderBase[order]
	if !ok {
		base = map[holderKey]int64{}
		rows, err := t.queryDirect(ctx, `SELECT kind, value, holders FROM order_holders WHERE order_id = ?`, order)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			k := holderKey{order: order}
			var n int64
			if err := rows.Scan(&k.kind, &k.value, &n); err != nil {
				rows.Close()
				return nil, err
			}
			base[k] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		c.holderBase[order] = base
	}
	n := map[string]int64{}
	for k, v := range base {
		if k.kind == kind {
			n[k.value] += v
		}
	}
	for k, v := range c.holderDel {
		if k.order == order && k.kind == kind {
			n[k.value] += v
		}
	}
	var out []string
	for v, c := range n {
		if c > 0 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// OrderMethods returns the activation methods in use by active activations on an order.
func (t *Tx) OrderMethods(ctx context.Context, order string) ([]string, error) {
	return t.holders(ctx, order, "method")
}

// OrderEmails returns the e-mail addresses of active activations on an order.
func (t *Tx) OrderEmails(ctx context.Context, order string) ([]string, error) {
	return t.holders(ctx, order, "email")
}

// GroupHolds reports whether a group (a hypervisor host, a cluster) holds
// an active allocation of a product of model on orders of the purchaser
// e-mail.
func (t *Tx) GroupHolds(ctx context.Context, group, purchaser, model string) (bool, error) {
	if err := t.flushCounters(ctx); err != nil {
		return false, err
	}
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM group_usage g
		JOIN orders o ON o.order_id = g.order_id
		JOIN products p ON p.code = g.product
		WHERE g.grp = ? AND g.pool = '' AND g.members > 0 AND o.email = ? AND p.model = ?`, group, purchaser, model).Scan(&n)
	return n > 0, err
}

// count adds an allocation's share of the counters, times sign (+1 or -1).
func (t *Tx) count(ctx context.Context, a Allocation, sign int64) error {
	c := t.counters()
	active := a.Released == 0
	for _, pool := range []string{a.Pool, ""} {
		gk := groupKey{a.Order, a.Product, pool, a.Group}
		before, err := t.GroupUsage(ctx, gk.order, gk.product, gk.pool, gk.grp)
		if err != nil {
			return err
		}
		gd := c.groupDelta[gk]
		if gd == nil {
			gd = &GroupUsage{}
			c.groupDelta[gk] = gd
		}
		var d Usage
		if active {
			gd.Members += sign
			d.Units = sign * a.Units
			d.Groups = transition(before.Members, sign)
		} else {
			d.ReleasedUnits = sign * a.Units
		}
		gd.Ever += sign
		d.GroupsEver = transition(before.Ever, sign)
		uk := usageKey{a.Order, a.Product, pool}
		if _, err := t.Usage(ctx, uk.order, uk.product, uk.pool); err != nil {
			return err
		}
		ud := c.usageDelta[uk]
		if ud == nil {
			ud = &Usage{}
			c.usageDelta[uk] = ud
		}
		ud.add(d)
	}
	if !active {
		return nil
	}
	who, err := t.activationHolder(ctx, a.Activation)
	if err != nil {
		return err
	}
	if _, err := t.holders(ctx, a.Order, "email"); err != nil {
		return err
	}
	c.holderDel[holderKey{a.Order, "email", who[0]}] += sign
	c.holderDel[holderKey{a.Order, "method", who[1]}] += sign
	return nil
}

// transition is how the number of non-empty counters changes when one
// whose value was before changes by sign.
func transition(before, sign int64) int64 {
	switch {
	case sign > 0 && before == 0:
		return 1
	case sign < 0 && before == 1:
		return -1
	}
	return 0
}

// activationHolder returns an activation's e-mail address and method.
func (t *Tx) activationHolder(ctx context.Context, id string) ([2]string, error) {
	c := t.counters()
	if h, ok := c.acts[id]; ok {
		return h, nil
	}
	var h [2]string
	err := t.queryRowDirect(ctx, `SELECT email, method FROM activations WHERE id = ?`, id).Scan(&h[0], &h[1])
	if err != nil {
		return h, notFound(err, "activation "+id)
	}
	c.acts[id] = h
	return h, nil
}

// rehold moves an activation's active allocations from its old e-mail
// address and method to new ones.
func (t *Tx) rehold(ctx context.Context, a Activation) error {
	old, err := t.activationHolder(ctx, a.ID)
	if err != nil {
		return err
	}
	now := [2]string{a.Email, a.Method}
	if old == now {
		return nil
	}
	held, err := t.ActivationAllocations(ctx, a.ID)
	if err != nil {
		return err
	}
	c := t.counters()
	for _, l := range held {
		if l.Released != 0 {
			continue
		}
		if _, err := t.holders(ctx, l.Order, "email"); err != nil {
			return err
		}
		c.holderDel[holderKey{l.Order, "email", old[0]}]--
		c.holderDel[holderKey{l.Order, "method", old[1]}]--
		c.holderDel[holderKey{l.Order, "email", now[0]}]++
		c.holderDel[holderKey{l.Order, "method", now[1]}]++
	}
	c.acts[a.ID] = now
	return nil
}

// flushCounters writes the transaction's counter changes, in a fixed
// order of rows, and forgets them: what was read stays valid as base.
func (t *Tx) flushCounters(ctx context.Context) error {
	c := t.c
	if c == nil {
		return nil
	}
	for _, k := range sortedKeys(c.usageDelta, func(a, b usageKey) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.product, b.product), cmp.Compare(a.pool, b.pool))
	}) {
		d := c.usageDelta[k]
		if *d == (Usage{}) {
			continue
		}
		// A row some change takes from exists already; the database
		// checks a new row's values before it looks for a conflict, so
		// only a change that adds only may be an upsert.
		q := `INSERT INTO pool_usage (order_id, product, pool, units, released_units, groups, groups_ever)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (order_id, product, pool) DO UPDATE SET units = pool_usage.units + excluded.units,
				released_units = pool_usage.released_units + excluded.released_units,
				groups = pool_usage.groups + excluded.groups, groups_ever = pool_usage.groups_ever + excluded.groups_ever`
		args := []any{k.order, k.product, k.pool, d.Units, d.ReleasedUnits, d.Groups, d.GroupsEver}
		if min(d.Units, d.ReleasedUnits, d.Groups, d.GroupsEver) < 0 {
			q = `UPDATE pool_usage SET units = units + ?, released_units = released_units + ?, groups = groups + ?,
				groups_ever = groups_ever + ? WHERE order_id = ? AND product = ? AND pool = ?`
			args = []any{d.Units, d.ReleasedUnits, d.Groups, d.GroupsEver, k.order, k.product, k.pool}
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
		u := c.usageBase[k]
		u.add(*d)
		c.usageBase[k] = u
	}
	clear(c.usageDelta)
	for _, k := range sortedKeys(c.groupDelta, func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.product, b.product), cmp.Compare(a.pool, b.pool), cmp.Compare(a.grp, b.grp))
	}) {
		d := c.groupDelta[k]
		if *d == (GroupUsage{}) {
			continue
		}
		q := `INSERT INTO group_usage (order_id, product, pool, grp, members, ever) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (order_id, product, pool, grp) DO UPDATE SET members = group_usage.members + excluded.members,
				ever = group_usage.ever + excluded.ever`
		args := []any{k.order, k.product, k.pool, k.grp, d.Members, d.Ever}
		if min(d.Members, d.Ever) < 0 {
			q = `UPDATE group_usage SET members = members + ?, ever = ever + ? WHERE order_id = ? AND product = ? AND pool = ? AND grp = ?`
			args = []any{d.Members, d.Ever, k.order, k.product, k.pool, k.grp}
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
		g := c.groupBase[k]
		g.Members, g.Ever = g.Members+d.Members, g.Ever+d.Ever
		c.groupBase[k] = g
	}
	clear(c.groupDelta)
	for _, k := range sortedKeys(c.holderDel, func(a, b holderKey) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.kind, b.kind), cmp.Compare(a.value, b.value))
	}) {
		d := c.holderDel[k]
		base := c.holderBase[k.order]
		n := base[k] + d
		var err error
		switch {
		case d == 0:
			continue
		case n == 0:
			_, err = t.exec(ctx, `DELETE FROM order_holders WHERE order_id = ? AND kind = ? AND value = ?`, k.order, k.kind, k.value)
		default:
			_, err = t.exec(ctx, `INSERT INTO order_holders (order_id, kind, value, holders) VALUES (?, ?, ?, ?)
				ON CONFLICT (order_id, kind, value) DO UPDATE SET holders = excluded.holders`, k.order, k.kind, k.value, n)
		}
		if err != nil {
			return err
		}
		if base != nil {
			base[k] = n
		}
	}
	clear(c.holderDel)
	for _, k := range sortedKeys(c.used, func(a, b usageKey) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.product, b.product), cmp.Compare(a.pool, b.pool))
	}) {
		var err error
		if k.pool == "" {
			_, err = t.exec(ctx, `UPDATE order_lines SET used = ? WHERE order_id = ? AND product = ?`, c.used[k], k.order, k.product)
		} else {
			_, err = t.exec(ctx, `UPDATE pools SET used = ? WHERE order_id = ? AND product = ? AND name = ?`, c.used[k], k.order, k.product, k.pool)
		}
		if err != nil {
			return err
		}
	}
	clear(c.used)
	return nil
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// VerifyCounters recomputes every counter from the allocations and
// activations, as the migration that introduced them does, and reports
// the first that differs from the one kept: a check for tests and for an
// operator who suspects the ledger.
func (d *DB) VerifyCounters(ctx context.Context) error {
	queries := []struct{ kept, scanned string }{{
		`SELECT order_id, product, pool, units, released_units, groups, groups_ever FROM pool_usage`,
		`SELECT order_id, product, pool,
			CAST(SUM(CASE WHEN released = 0 THEN units ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN released = 0 THEN 0 ELSE units END) AS BIGINT),
			COUNT(DISTINCT CASE WHEN released = 0 THEN grp END), COUNT(DISTINCT grp)
		FROM allocations GROUP BY order_id, product, pool
		UNION ALL
		SELECT order_id, product, '',
			CAST(SUM(CASE WHEN released = 0 THEN units ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN released = 0 THEN 0 ELSE units END) AS BIGINT),
			COUNT(DISTINCT CASE WHEN released = 0 THEN grp END), COUNT(DISTINCT grp)
		FROM allocations GROUP BY order_id, product`,
	}, {
		`SELECT order_id, product, pool, grp, members, ever FROM group_usage`,
		`SELECT order_id, product, pool, grp, CAST(SUM(CASE WHEN released = 0 THEN 1 ELSE 0 END) AS BIGINT), COUNT(*)
		FROM allocations GROUP BY order_id, product, pool, grp
		UNION ALL
		SELECT order_id, product, '', grp, CAST(SUM(CASE WHEN released = 0 THEN 1 ELSE 0 END) AS BIGINT), COUNT(*)
		FROM allocations GROUP BY order_id, product, grp`,
	}, {
		`SELECT order_id, kind, value, holders FROM order_holders`,
		`SELECT l.order_id, 'email', a.email, COUNT(*) FROM allocations l JOIN activations a ON a.id = l.activation_id
		WHERE l.released = 0 GROUP BY l.order_id, a.email
		UNION ALL
		SELECT l.order_id, 'method', a.method, COUNT(*) FROM allocations l JOIN activations a ON a.id = l.activation_id
		WHERE l.released = 0 GROUP BY l.order_id, a.method`,
	}}
	return d.View(ctx, func(t *Tx) error {
		for _, q := range queries {
			kept, err := t.countRows(ctx, q.kept)
			if err != nil {
				return err
			}
			scanned, err := t.countRows(ctx, q.scanned)
			if err != nil {
				return err
			}
			for k, v := range scanned {
				if kept[k] != v {
					return fmt.Errorf("ledger %s: counter %s is %q, the allocations say %q", d.name, k, kept[k], v)
				}
			}
			for k, v := range kept {
				if _, ok := scanned[k]; !ok && strings.Trim(v, "0 ") != "" {
					return fmt.Errorf("ledger %s: counter %s is %q, the allocations say nothing", d.name, k, v)
				}
			}
		}
		return nil
	})
}

// countRows reads rows of text key columns followed by integer columns
// into a map from the keys to the integers, both as text.
func (t *Tx) countRows(ctx context.Context, q string) (map[string]string, error) {
	rows, err := t.query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var keys, nums []string
		for _, v := range vals {
			switch v := v.(type) {
			case string:
				keys = append(keys, v)
			case []byte:
				keys = append(keys, string(v))
			default:
				nums = append(nums, fmt.Sprint(v))
			}
		}
		out[strings.Join(keys, "/")] = strings.Join(nums, " ")
	}
	return out, rows.Err()
}

func (c *counters) clone() *counters {
	if c == nil {
		return nil
	}
	out := &counters{
		usageBase: maps.Clone(c.usageBase), usageDelta: map[usageKey]*Usage{},
		groupBase: maps.Clone(c.groupBase), groupDelta: map[groupKey]*GroupUsage{},
		holderBase: map[string]map[holderKey]int64{}, holderDel: maps.Clone(c.holderDel),
		used: maps.Clone(c.used), acts: maps.Clone(c.acts),
	}
	for k, v := range c.usageDelta {
		d := *v
		out.usageDelta[k] = &d
	}
	for k, v := range c.groupDelta {
		d := *v
		out.groupDelta[k] = &d
	}
	for k, v := range c.holderBase {
		out.holderBase[k] = maps.Clone(v)
	}
	return out
}
