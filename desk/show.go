package desk

import (
	"context"
	"sort"

	"github.com/oat-toolkit/oat/ledger"
)

// OrderView is an order with its seats, pools, activations and e-mail
// approvals: what `oat desk show --json` prints.
type OrderView struct {
	Order       string           `json:"order"`
	Fulfillment string           `json:"fulfillment"`
	Email       string           `json:"email"`
	Products    []LineView       `json:"products"`
	Seats       int64            `json:"seats"`
	Used        int64            `json:"used"`
	Free        int64            `json:"free"`
	Pools       []PoolView       `json:"pools"`
	Activations []ActivationView `json:"activations"`
	Emails      []EmailView      `json:"emails"`
}

// LineView is one product of an order.
type LineView struct {
	Code    string `json:"code"`
	Model   string `json:"model"`
	Seats   int64  `json:"seats"`
	Used    int64  `json:"used"`
	Free    int64  `json:"free"`
	Units   int64  `json:"units_used,omitempty"`     // VMs, sockets, agents where the model counts them
	Keys    int64  `json:"keys_generated,omitempty"` // product keys handed out, for a keyed product (A22)
	Expires string `json:"expires,omitempty"`        // last day of a subscription, YYYY-MM-DD
	// State is "active", "expired" (the subscription ended) or
	// "cancelled" (by the desk, oat desk order change --cancel).
	State     string `json:"state"`
	Cancelled string `json:"cancelled,omitempty"` // the day it was cancelled
}

// PoolView is a pool of an order line; the default pool is listed too.
type PoolView struct {
	Product string `json:"product"`
	Name    string `json:"name"`
	Seats   int64  `json:"seats"`
	Used    int64  `json:"used"`
	Free    int64  `json:"free"`
}

// ActivationView is an activation holding (or having held) seats of the order.
type ActivationView struct {
	ID       string   `json:"id"`
	Host     string   `json:"host"`
	Email    string   `json:"email"`
	Method   string   `json:"method"`
	Group    string   `json:"group,omitempty"`
	Sequence int64    `json:"sequence"`
	State    string   `json:"state"`
	Products []string `json:"products"`
	Created  int64    `json:"created"`
	Released int64    `json:"released,omitempty"`
	Reason   string   `json:"release_reason,omitempty"`
	// EmailVerified says the address given at activation was confirmed
	// through the registration mail's link; Registration is "verified",
	// "waiting" (with the link's expiry) or "" (activated before oat
	// mailed registrations).
	EmailVerified       bool   `json:"email_verified"`
	Registration        string `json:"registration,omitempty"`
	RegistrationExpires int64  `json:"registration_link_expires,omitempty"`
}

// EmailView is an approved, denied or pending address on the order (A8).
type EmailView struct {
	Email   string `json:"email"`
	State   string `json:"state"`
	Expires int64  `json:"link_expires,omitempty"`
}

// Show returns an order as the desk sees it.
func (d *Desk) Show(ctx context.Context, order string) (*OrderView, error) {
	var v *OrderView
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		v, err = showOrder(ctx, tx, order, d.now().Unix())
		return err
	})
	return v, err
}

// Orders returns every order as the desk sees it.
func (d *Desk) Orders(ctx context.Context) ([]OrderView, error) {
	var out []OrderView
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		ids, err := tx.OrderIDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			v, err := showOrder(ctx, tx, id, d.now().Unix())
			if err != nil {
				return err
			}
			out = append(out, *v)
		}
		return nil
	})
	return out, err
}

// Audit returns the newest limit audit entries, newest first.
func (d *Desk) Audit(ctx context.Context, limit int) ([]ledger.AuditEntry, error) {
	var out []ledger.AuditEntry
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.RecentAudit(ctx, limit)
		return err
	})
	return out, err
}

// AuditLog returns the audit entries about an order, an activation, or
// both (an empty one matches all), oldest first.
func (d *Desk) AuditLog(ctx context.Context, order, activation string) ([]ledger.AuditEntry, error) {
	var out []ledger.AuditEntry
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.AuditLog(ctx, order, activation)
		return err
	})
	return out, err
}

func showOrder(ctx context.Context, tx *ledger.Tx, order string, now int64) (*OrderView, error) {
	o, err := tx.Order(ctx, order)
	if err != nil {
		return nil, err
	}
	v := &OrderView{Order: o.ID, Fulfillment: o.Fulfillment, Email: o.Email, Products: []LineView{}, Pools: []PoolView{},
		Activations: []ActivationView{}, Emails: []EmailView{}}
	lines, err := tx.Lines(ctx, order)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		p, m, err := product(ctx, tx, l.Product)
		if err != nil {
			return nil, err
		}
		st, err := lineState(ctx, tx, order, l.Product, m)
		if err != nil {
			return nil, err
		}
		used, err := st.used(ctx, "", nil)
		if err != nil {
			return nil, err
		}
		lv := LineView{Code: l.Product, Model: p.Model, Seats: l.Seats, Used: used}
		if m.Keys > 0 {
			// A keyed seat is used once its keys were handed out (A22).
			had, err := keysHandedOut(ctx, tx, order, l.Product)
			if err != nil {
				return nil, err
			}
			lv.Used = (had + int64(m.Keys) - 1) / int64(m.Keys)
			lv.Keys = had
		}
		lv.Free = max(lv.Seats-lv.Used, 0)
		if m.perSeat() > 1 || m.Measure != "" {
			if lv.Units, err = st.unitsUsed(ctx); err != nil {
				return nil, err
			}
		}
		lv.State = "active"
		if l.Expires != 0 {
			lv.Expires = day(l.Expires)
			if l.Expires < now {
				lv.State = "expired"
			}
		}
		if l.Cancelled != 0 {
			lv.State, lv.Cancelled = "cancelled", day(l.Cancelled)
		}
		v.Products = append(v.Products, lv)
		v.Seats += lv.Seats
		v.Used += lv.Used
		names := []string{ledger.DefaultPool}
		for n := range st.named {
			names = append(names, n)
		}
		sort.Strings(names[1:])
		for _, n := range names {
			used, err := st.used(ctx, n, nil)
			if err != nil {
				return nil, err
			}
			pv := PoolView{Product: l.Product, Name: n, Seats: st.poolSeats(n), Used: used}
			if m.Keys > 0 && n == ledger.DefaultPool {
				pv.Used = lv.Used
			}
			pv.Free = max(pv.Seats-pv.Used, 0)
			v.Pools = append(v.Pools, pv)
		}
	}
	v.Free = max(v.Seats-v.Used, 0)
	acts, err := tx.Activations(ctx, order)
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		av := ActivationView{ID: a.ID, Host: a.Host, Email: a.Email, Method: a.Method, Group: a.Group, Sequence: a.Seq,
			State: a.State, Products: []string{}, Created: a.Created, Released: a.Released, Reason: a.ReleaseReason}
		// The registration mail (FAQ 2.1, 2.9): whether the address
		// given at activation was confirmed through its link.
		switch r, err := tx.Registration(ctx, a.ID); {
		case err == nil && r.Verified != 0:
			av.Registration, av.EmailVerified = "verified", true
		case err == nil:
			av.Registration, av.RegistrationExpires = "waiting", r.TokenExpires
		case !isNotFound(err):
			return nil, err
		}
		allocs, err := tx.ActivationAllocations(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		for _, al := range allocs {
			if al.Order == order {
				av.Products = append(av.Products, al.Product)
			}
		}
		v.Activations = append(v.Activations, av)
	}
	emails, err := tx.Emails(ctx, order)
	if err != nil {
		return nil, err
	}
	for _, e := range emails {
		v.Emails = append(v.Emails, EmailView{Email: e.Email, State: e.State, Expires: e.TokenExpires})
	}
	return v, nil
}
