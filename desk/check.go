package desk

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
)

// This file is the one interpreter of license models: every rule a model
// enforces is a field of Model, checked here.

// fit checks that a machine is of the kind a model licenses (B2, B16, A28).
func fit(code string, m Model, fp machine.Fingerprint) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s is licensed for %s; %s (%s)", ErrNotEntitled, code, m.Description, fmt.Sprintf(format, args...), m.Rules)
	}
	if m.Keys > 0 {
		return usesKeys(code)
	}
	if len(m.Classes) > 0 && !slices.Contains(m.Classes, fp.Class) {
		return refuse("this machine is a %s", orUnknown(fp.Class))
	}
	if len(m.OS) > 0 && !slices.Contains(m.OS, fp.OS) {
		return refuse("this machine runs %s", orUnknown(fp.OS))
	}
	switch m.Virtual {
	case "vm":
		if fp.Hyper == "" {
			return refuse("this is a physical machine")
		}
	case "physical":
		if fp.Hyper != "" {
			return refuse("this is a virtual machine (%s)", fp.Hyper)
		}
	}
	switch m.Placement {
	case "", "on-premises":
		if fp.Cloud != "" {
			return refuse("this machine is in the %s cloud, which needs a cloud license", fp.Cloud)
		}
	case "cloud":
		if fp.Cloud == "" {
			return refuse("this machine is on-premises")
		}
		if !slices.Contains(m.Clouds, fp.Cloud) {
			return refuse("this machine is in %s", fp.Cloud)
		}
	}
	if m.Measure == "sockets" && fp.Sockets == 0 {
		return refuse("the request does not say how many CPU sockets this machine has")
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "machine of unknown kind"
	}
	return s
}

// groupFor is the group an activation of a model belongs to: the
// hypervisor host, the cluster, or the named person.
func groupFor(code string, m Model, given, host, email string, fp machine.Fingerprint) (string, error) {
	switch m.Group {
	case "host":
		if given != "" {
			return given, nil
		}
		if fp.Hyper == "" {
			return host, nil // a physical machine is its own host
		}
		return "", fmt.Errorf("%w: %s is licensed per hypervisor host; this virtual machine must say which host it runs on (--group HOST) (%s)", ErrInvalidInput, code, m.Rules)
	case "cluster":
		if given == "" {
			return "", fmt.Errorf("%w: %s is licensed per cluster; name the cluster group (--group CLUSTER) (%s)", ErrInvalidInput, code, m.Rules)
		}
		return given, nil
	case "person":
		return email, nil
	}
	return "", nil
}

// units is what one activation of a model takes.
func units(m Model, fp machine.Fingerprint) int64 {
	if m.Measure == "sockets" {
		return int64(fp.Sockets)
	}
	return 1
}

// line is an order line's seats and what holds them.
type line struct {
	line   ledger.Line
	model  Model
	named  map[string]int64 // named pools and their seats
	allocs []ledger.Allocation
	owners []ledger.SeatOwner // for an Owned model: whose the seats are (B22)
}

func lineState(ctx context.Context, tx *ledger.Tx, order, code string, m Model) (*line, error) {
	lines, err := tx.Lines(ctx, order)
	if err != nil {
		return nil, err
	}
	pools, err := tx.Pools(ctx, order)
	if err != nil {
		return nil, err
	}
	return newLineState(ctx, tx, order, code, m, lines, pools)
}

// newLineState builds a line's state from its order's lines and pools,
// reading the line's allocations.
func newLineState(ctx context.Context, tx *ledger.Tx, order, code string, m Model, lines []ledger.Line, pools []ledger.Pool) (*line, error) {
	st := &line{model: m, named: map[string]int64{}}
	found := false
	for _, l := range lines {
		if l.Product == code {
			st.line, found = l, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %s is not on order %s", ErrNotEntitled, code, order)
	}
	for _, p := range pools {
		if p.Product == code {
			st.named[p.Name] = p.Seats
		}
	}
	var err error
	if m.Owned {
		if st.owners, err = tx.SeatOwners(ctx, order, code); err != nil {
			return nil, err
		}
	}
	st.allocs, err = tx.LineAllocations(ctx, order, code)
	return st, err
}

// owner returns the seat a group owns on an Owned line.
func (s *line) owner(group string) (ledger.SeatOwner, bool) {
	for _, o := range s.owners {
		if o.Owner == group {
			return o, true
		}
	}
	return ledger.SeatOwner{}, false
}

// poolSeats is the seats a pool holds; the default pool holds what the
// named pools do not (A12, A15).
func (s *line) poolSeats(pool string) int64 {
	if pool != ledger.DefaultPool {
		return s.named[pool]
	}
	n := s.line.Seats
	for _, v := range s.named {
		n -= v
	}
	return n
}

// counts reports whether an allocation still counts against the seats:
// while active, or for good where the model consumes units (B23).
func (s *line) counts(a ledger.Allocation) bool { return a.Released == 0 || s.model.Consumed }

// used is the seats in use in a pool ("" for all pools), with extra
// counted as if allocated (nil for none).
func (s *line) used(pool string, extra *ledger.Allocation) int64 {
	if s.model.Owned {
		// A seat that belongs to someone is used, active or not (B22);
		// owned seats are not split into pools.
		if pool != "" && pool != ledger.DefaultPool {
			return 0
		}
		n := int64(len(s.owners))
		if extra != nil {
			if _, ok := s.owner(extra.Group); !ok {
				n++
			}
		}
		return n
	}
	all := s.allocs
	if extra != nil {
		all = append(slices.Clip(all), *extra)
	}
	var unitsUsed int64
	groups := map[string]bool{}
	for _, a := range all {
		if !s.counts(a) || (pool != "" && a.Pool != pool) {
			continue
		}
		unitsUsed += a.Units
		groups[a.Group] = true
	}
	if s.model.Count == "group" {
		return int64(len(groups))
	}
	per := s.model.perSeat()
	return (unitsUsed + per - 1) / per
}

// unitsUsed is the units in use on the whole line.
func (s *line) unitsUsed() int64 {
	var n int64
	for _, a := range s.allocs {
		if s.counts(a) {
			n += a.Units
		}
	}
	return n
}

// allocate takes seats of one order line for an activation, or refuses
// with the rule that stops it. st must come from orders locked in tx.
func allocate(ctx context.Context, tx *ledger.Tx, st *line, o ledger.Order, act ledger.Activation, group string, fp machine.Fingerprint, now int64) (ledger.Allocation, error) {
	code, m := st.line.Product, st.model
	if st.line.Expires != 0 && st.line.Expires < now {
		return ledger.Allocation{}, fmt.Errorf("%w: the subscription for %s on order %s ended on %s (B1)", ErrNotEntitled, code, o.ID, day(st.line.Expires))
	}
	if m.Requires != "" {
		held, err := groupHolds(ctx, tx, group, o.Email, m.Requires)
		if err != nil {
			return ledger.Allocation{}, err
		}
		if !held {
			return ledger.Allocation{}, fmt.Errorf("%w: %s is licensed for %s; %s %q holds none (%s)", ErrNotEntitled, code, m.Description, m.Group, group, m.Rules)
		}
	}
	if m.Owned {
		if err := takeOwnedSeat(ctx, tx, st, o, group, now); err != nil {
			return ledger.Allocation{}, err
		}
	}
	if m.GroupSize > 0 {
		var members []string
		for _, a := range st.allocs {
			if a.Released == 0 && a.Group == group {
				members = append(members, a.Activation)
			}
		}
		if int64(len(members)) >= int64(m.GroupSize) {
			return ledger.Allocation{}, groupFull(code, m, group, len(members))
		}
	}
	a := ledger.Allocation{Activation: act.ID, Order: o.ID, Product: code, Pool: ledger.DefaultPool,
		Group: group, Units: units(m, fp), Created: now}
	if used, have := st.used(a.Pool, &a), st.poolSeats(a.Pool); used > have {
		return ledger.Allocation{}, noSeats(st, a.Pool)
	}
	if err := tx.InsertAllocation(ctx, a); err != nil {
		return ledger.Allocation{}, err
	}
	st.allocs = append(st.allocs, a)
	return a, nil
}

// takeOwnedSeat checks a group's own seat on an Owned line, or gives it
// a free one (B22): the seat's term runs from its first activation, so
// moving the medium does not renew it, and a seat that belongs to another
// address is neither lent nor transferred.
func takeOwnedSeat(ctx context.Context, tx *ledger.Tx, st *line, o ledger.Order, group string, now int64) error {
	code, m := st.line.Product, st.model
	if own, ok := st.owner(group); ok {
		if end := termEnd(m, own.FirstActivated); end != 0 && end < now {
			return fmt.Errorf("%w: the seat of %s for %s on order %s ran from its first activation on %s and ended on %s (%s)",
				ErrNotEntitled, group, code, o.ID, day(own.FirstActivated), day(end), m.Rules)
		}
		return nil
	}
	if int64(len(st.owners)) >= st.line.Seats {
		var names []string
		for _, ow := range st.owners {
			names = append(names, ow.Owner)
		}
		return fmt.Errorf("%w: order %s has no free %s: its %d seats belong to %s; a seat is never lent or transferred, only reassigned by the desk when its engineer leaves (%s)",
			ErrNoSeats, o.ID, code, st.line.Seats, strings.Join(names, ", "), m.Rules)
	}
	own := ledger.SeatOwner{Order: o.ID, Product: code, Owner: group, FirstActivated: now}
	if err := tx.InsertSeatOwner(ctx, own); err != nil {
		return err
	}
	st.owners = append(st.owners, own)
	return nil
}

// termEnd is when a term of TermDays from start ends, 0 without a term.
func termEnd(m Model, start int64) int64 {
	if m.TermDays <= 0 {
		return 0
	}
	return start + int64(m.TermDays)*86400
}

func noSeats(st *line, pool string) error {
	m := st.model
	what := fmt.Sprintf("%d of %d seats in use", st.used(pool, nil), st.poolSeats(pool))
	switch {
	case m.Count == "group":
		what = fmt.Sprintf("%d of %d seats in use, one per %s", st.used(pool, nil), st.poolSeats(pool), m.Group)
	case m.perSeat() > 1 || m.Measure != "":
		unit := "units"
		if m.Measure != "" {
			unit = m.Measure
		}
		what = fmt.Sprintf("%d of %d seats in use (%d %s in use, %d per seat)", st.used(pool, nil), st.poolSeats(pool), st.unitsUsed(), unit, m.perSeat())
	}
	return fmt.Errorf("%w: order %s has no free %s in pool %q: %s", ErrNoSeats, st.line.Order, st.line.Product, pool, what)
}

func groupFull(code string, m Model, group string, n int) error {
	switch m.Group {
	case "person":
		return fmt.Errorf("%w: %s of %s is already in use on another machine; one medium in use at a time: deactivate it there first (%s)", ErrConflict, code, group, m.Rules)
	case "cluster":
		return fmt.Errorf("%w: cluster %q already has %d nodes on %s, which covers %d; another node needs an additional-node license (%s)", ErrNoSeats, group, n, code, m.GroupSize, m.Rules)
	}
	return fmt.Errorf("%w: %s %q already has %d activations of %s, which covers %d (%s)", ErrNoSeats, m.Group, group, n, code, m.GroupSize, m.Rules)
}

// groupHolds reports whether a group holds an active license of a model
// on orders of the same purchaser.
func groupHolds(ctx context.Context, tx *ledger.Tx, group, purchaser, model string) (bool, error) {
	allocs, err := tx.GroupAllocations(ctx, group, purchaser)
	if err != nil {
		return false, err
	}
	for _, a := range allocs {
		p, err := tx.Product(ctx, a.Product)
		if err != nil {
			return false, err
		}
		if p.Model == model {
			return true, nil
		}
	}
	return false, nil
}

// checkAlone refuses to mix a model that must be alone on a machine with
// anything else on one installation (IT Pro never on a protected machine,
// B22). Installations' fingerprints are salted per installation, so the
// desk can only see what one installation holds.
func checkAlone(codes []string, models map[string]Model) error {
	for _, c := range codes {
		if !models[c].Alone {
			continue
		}
		for _, other := range codes {
			if other != c {
				return fmt.Errorf("%w: %s is licensed for %s; this installation also holds %s, a protected machine (%s)", ErrNotEntitled, c, models[c].Description, other, models[c].Rules)
			}
		}
	}
	return nil
}

func day(unix int64) string {
	return strings.SplitN(timeUTC(unix).Format("2006-01-02"), "T", 2)[0]
}
