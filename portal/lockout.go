package portal

import (
	"sync"
	"time"
)

// guessGuard stops anyone from finding an order's fulfillment number, the
// order's only secret, by trying: after perOrder wrong order ID /
// fulfillment number pairs for one order ID within the lockout period,
// that order ID is refused for the lockout period, whoever asks; after
// perAddr wrong pairs from one client address, that address is refused.
//
// Order IDs are counted as typed, whether an order exists or not, so that
// a lockout says nothing about which orders exist. The counts live in
// this process: behind several portals an attacker gets each portal's
// allowance. Each map holds at most maxGuessEntries keys; past that, new
// keys are not counted until old ones expire, while the per-address
// lockout still holds.
type guessGuard struct {
	perOrder, perAddr int
	lockout           time.Duration
	now               func() time.Time

	mu     sync.Mutex
	orders map[string]*guessCount
	addrs  map[string]*guessCount
	swept  time.Time
}

type guessCount struct {
	n      int
	first  time.Time // of the wrong guesses counted in n
	locked time.Time // refused until then
}

const (
	maxGuessEntries = 100_000
	maxGuessKey     = 200
)

func newGuessGuard(perOrder, perAddr int, lockout time.Duration, now func() time.Time) *guessGuard {
	return &guessGuard{perOrder: perOrder, perAddr: perAddr, lockout: lockout, now: now,
		orders: map[string]*guessCount{}, addrs: map[string]*guessCount{}}
}

func guessKey(s string) string {
	if len(s) > maxGuessKey {
		return s[:maxGuessKey]
	}
	return s
}

// lockedUntil returns when the lockout on order or addr ends, or the zero
// time when neither is locked out.
func (g *guessGuard) lockedUntil(order, addr string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	var until time.Time
	for _, c := range []*guessCount{g.orders[guessKey(order)], g.addrs[addr]} {
		if c != nil && c.locked.After(now) && c.locked.After(until) {
			until = c.locked
		}
	}
	return until
}

// failed counts a wrong guess against order and addr.
func (g *guessGuard) failed(order, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Sub(g.swept) > time.Minute {
		g.sweep(now)
	}
	g.count(g.orders, guessKey(order), g.perOrder, now)
	g.count(g.addrs, addr, g.perAddr, now)
}

func (g *guessGuard) count(m map[string]*guessCount, key string, max int, now time.Time) {
	c, ok := m[key]
	if !ok {
		if len(m) >= maxGuessEntries {
			return
		}
		c = &guessCount{}
		m[key] = c
	}
	if c.n == 0 || now.Sub(c.first) > g.lockout {
		c.n, c.first = 0, now
	}
	c.n++
	if c.n >= max {
		c.locked = now.Add(g.lockout)
		c.n = 0
	}
}

// sweep drops counts that no longer matter: window over, lock over.
func (g *guessGuard) sweep(now time.Time) {
	g.swept = now
	for _, m := range []map[string]*guessCount{g.orders, g.addrs} {
		for k, c := range m {
			if now.Sub(c.first) > g.lockout && !c.locked.After(now) {
				delete(m, k)
			}
		}
	}
}
