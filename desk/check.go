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
//
// A physical host's group is derived from what the customer cannot choose:
// its installation key, verified by the request's signature and bound to
// the machine by the evidence policy. The host name is self-reported (five
// servers can all be called hv01), so it never names a group. A VM cannot
// see its host: the operator names the group (--group), and the desk checks
// it against the hypervisor the VM reports (checkHostGroup).
func groupFor(code string, m Model, given string, installKey []byte, email string, fp machine.Fingerprint) (string, error) {
	switch m.Group {
	case "host":
		if fp.Hyper == "" {
			derived := HostGroup(installKey)
			if given != "" && given != derived {
				return "", fmt.Errorf("%w: %s is licensed per hypervisor host, and this is a physical host: its group is %s, derived from its own verified identity, not named (--group is for virtual machines, which cannot see their host) (%s)", ErrInvalidInput, code, derived, m.Rules)
			}
			return derived, nil
		}
		if given == "" {
			return "", fmt.Errorf("%w: %s is licensed per hypervisor host; this virtual machine must say which host it runs on (--group HOST) (%s)", ErrInvalidInput, code, m.Rules)
		}
		return given, nil
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

// HostGroup is the group of a physical host for per-host models: "host-"
// and the key ID of its installation key. VMs on that host name it with
// --group to share its seat.
func HostGroup(installKey []byte) string { return "host-" + keyID(installKey) }

// checkHostGroup holds a per-host group to one hypervisor: the first VM
// that names a group records the hypervisor it reports, and a VM that
// reports another is refused (a Hyper-V guest in a VMware host's group).
func checkHostGroup(ctx context.Context, tx *ledger.Tx, code string, m Model, group string, fp machine.Fingerprint, now int64) error {
	if m.Group != "host" || fp.Hyper == "" || group == "" {
		return nil
	}
	hyper, found, err := tx.HostGroupHypervisor(ctx, group)
	if err != nil {
		return err
	}
	if !found {
		return tx.InsertHostGroup(ctx, group, fp.Hyper, now)
	}
	if hyper != fp.Hyper {
		return fmt.Errorf("%w: %s: this virtual machine reports the %s hypervisor, but group %q is a %s host's; name the host it runs on (--group HOST) (%s)", ErrConflict, code, fp.Hyper, group, hyper, m.Rules)
	}
	return nil
}

// units is what one activation of a model takes.
func units(m Model, fp machine.Fingerprint) int64 {
	if m.Measure == "sockets" {
		return int64(fp.Sockets)
	}
	return 1
}

// line is an order line's seats and what holds them: the ledger's
// counters (ledger.Usage), read by primary key, never by scanning the
// line's allocations.
type line struct {
	tx    *ledger.Tx
	line  ledger.Line
	model Model
	named map[string]int64 // named pools and their seats
	// owners are whose the seats of an Owned model are (B22), read on
	// first use: at most the line's seats rows, by primary key prefix.
	owners     []ledger.SeatOwner
	ownersRead bool
}

// seatOwners returns the owners of an Owned line's seats.
func (s *line) seatOwners(ctx context.Context) ([]ledger.SeatOwner, error) {
	if !s.ownersRead {
		o, err := s.tx.SeatOwners(ctx, s.line.Order, s.line.Product)
		if err != nil {
			return nil, err
		}
		s.owners, s.ownersRead = o, true
	}
	return s.owners, nil
}

// owner returns the seat a group owns on an Owned line.
func (s *line) owner(ctx context.Context, group string) (ledger.SeatOwner, bool, error) {
	owners, err := s.seatOwners(ctx)
	if err != nil {
		return ledger.SeatOwner{}, false, err
	}
	for _, o := range owners {
		if o.Owner == group {
			return o, true, nil
		}
	}
	return ledger.SeatOwner{}, false, nil
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
	return newLineState(tx, order, code, m, lines, pools)
}

// newLineState builds a line's state from its order's lines and pools.
func newLineState(tx *ledger.Tx, order, code string, m Model, lines []ledger.Line, pools []ledger.Pool) (*line, error) {
	st := &line{tx: tx, model: m, named: map[string]int64{}}
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
	return st, nil
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

// used is the seats in use in a pool ("" for the whole line), with extra
// counted as if allocated (nil for none): units (released ones too where
// the model consumes them, B23) rounded up to seats, or one seat per group.
func (s *line) used(ctx context.Context, pool string, extra *ledger.Allocation) (int64, error) {
	if s.model.Owned {
		// A seat that belongs to someone is used, active or not (B22);
		// owned seats are not split into named pools.
		if pool != "" && pool != ledger.DefaultPool {
			return 0, nil
		}
		owners, err := s.seatOwners(ctx)
		if err != nil {
			return 0, err
		}
		n := int64(len(owners))
		if extra != nil {
			if _, ok, err := s.owner(ctx, extra.Group); err != nil {
				return 0, err
			} else if !ok {
				n++
			}
		}
		return n, nil
	}
	u, err := s.tx.Usage(ctx, s.line.Order, s.line.Product, pool)
	if err != nil {
		return 0, err
	}
	if extra != nil && extra.Released == 0 {
		u.Units += extra.Units
		g, err := s.tx.GroupUsage(ctx, s.line.Order, s.line.Product, pool, extra.Group)
		if err != nil {
			return 0, err
		}
		if g.Members == 0 {
			u.Groups++
		}
		if g.Ever == 0 {
			u.GroupsEver++
		}
	}
	return s.seats(u), nil
}

// seats is the seats a usage takes under the line's model.
func (s *line) seats(u ledger.Usage) int64 {
	if s.model.Count == "group" {
		if s.model.Consumed {
			return u.GroupsEver
		}
		return u.Groups
	}
	n := u.Units
	if s.model.Consumed {
		n += u.ReleasedUnits
	}
	per := s.model.perSeat()
	return (n + per - 1) / per
}

// unitsUsed is the units in use on the whole line.
func (s *line) unitsUsed(ctx context.Context) (int64, error) {
	u, err := s.tx.Usage(ctx, s.line.Order, s.line.Product, "")
	if s.model.Consumed {
		u.Units += u.ReleasedUnits
	}
	return u.Units, err
}

// record writes the seats in use on the line and in pool to the ledger,
// which refuses more than the seats sold (CHECK used <= seats): a second
// guard under the desk's own check, so that even a bug cannot oversell.
func (s *line) record(ctx context.Context, pools ...string) error {
	for _, p := range append([]string{""}, pools...) {
		if p == ledger.DefaultPool || (p != "" && s.named[p] == 0) {
			continue
		}
		n, err := s.used(ctx, p, nil)
		if err != nil {
			return err
		}
		s.tx.SetUsed(s.line.Order, s.line.Product, p, n)
	}
	return nil
}

// allocate takes seats of one order line for an activation, or refuses
// with the rule that stops it. st must come from orders locked in tx.
func allocate(ctx context.Context, tx *ledger.Tx, st *line, o ledger.Order, act ledger.Activation, group, pool string, fp machine.Fingerprint, now int64) (ledger.Allocation, error) {
	code, m := st.line.Product, st.model
	if pool == "" {
		pool = ledger.DefaultPool
	}
	if _, ok := st.named[pool]; !ok && pool != ledger.DefaultPool {
		return ledger.Allocation{}, fmt.Errorf("%w: order %s has no pool %q for %s (A12)", ErrNotFound, o.ID, pool, code)
	}
	if st.line.Cancelled != 0 {
		return ledger.Allocation{}, fmt.Errorf("%w: %s on order %s was cancelled on %s", ErrNotEntitled, code, o.ID, day(st.line.Cancelled))
	}
	if st.line.Expires != 0 && st.line.Expires < now {
		return ledger.Allocation{}, fmt.Errorf("%w: the subscription for %s on order %s ended on %s (B1)", ErrNotEntitled, code, o.ID, day(st.line.Expires))
	}
	if m.Requires != "" {
		held, err := tx.GroupHolds(ctx, group, o.Email, m.Requires)
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
		g, err := tx.GroupUsage(ctx, o.ID, code, "", group)
		if err != nil {
			return ledger.Allocation{}, err
		}
		if g.Members >= int64(m.GroupSize) {
			return ledger.Allocation{}, groupFull(code, m, group, int(g.Members))
		}
	}
	a := ledger.Allocation{Activation: act.ID, Order: o.ID, Product: code, Pool: pool,
		Group: group, Units: units(m, fp), Created: now}
	used, err := st.used(ctx, a.Pool, &a)
	if err != nil {
		return ledger.Allocation{}, err
	}
	if used > st.poolSeats(a.Pool) {
		return ledger.Allocation{}, noSeats(ctx, st, a.Pool)
	}
	if err := tx.InsertAllocation(ctx, a); err != nil {
		return ledger.Allocation{}, err
	}
	if err := st.record(ctx, a.Pool); err != nil {
		return ledger.Allocation{}, err
	}
	return a, nil
}

// takeOwnedSeat checks a group's own seat on an Owned line, or gives it
// a free one (B22): the seat's term runs from its first activation, so
// moving the medium does not renew it, and a seat that belongs to another
// address is neither lent nor transferred.
func takeOwnedSeat(ctx context.Context, tx *ledger.Tx, st *line, o ledger.Order, group string, now int64) error {
	code, m := st.line.Product, st.model
	own, ok, err := st.owner(ctx, group)
	if err != nil {
		return err
	}
	if ok {
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
	own = ledger.SeatOwner{Order: o.ID, Product: code, Owner: group, FirstActivated: now}
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

func noSeats(ctx context.Context, st *line, pool string) error {
	m := st.model
	used, err := st.used(ctx, pool, nil)
	if err != nil {
		return err
	}
	units, err := st.unitsUsed(ctx)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d of %d seats in use", used, st.poolSeats(pool))
	switch {
	case m.Count == "group":
		what = fmt.Sprintf("%d of %d seats in use, one per %s", used, st.poolSeats(pool), m.Group)
	case m.perSeat() > 1 || m.Measure != "":
		unit := "units"
		if m.Measure != "" {
			unit = m.Measure
		}
		what = fmt.Sprintf("%d of %d seats in use (%d %s in use, %d per seat)", used, st.poolSeats(pool), units, unit, m.perSeat())
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
