package portal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
)

// LedgerDesk serves the portal from a license desk over its ledger, and
// its outbox to the mail Sender. The vendor key signs licenses in this
// process and is never handed out.
type LedgerDesk struct {
	d       *desk.Desk
	vendor  ed25519.PrivateKey
	baseURL string
	now     func() time.Time
	// issuer answers the activations that arrive together in one ledger
	// transaction (group commit), each with its own outcome.
	issuer *desk.Issuer
	// onlineIssuer does the same for oat activate, recording the
	// activations as online (A11).
	onlineIssuer *desk.Issuer
}

// NewLedgerDesk returns the portal's view of d. baseURL is the portal's
// public address, for the approval links mailed to purchasers. Close it
// when the portal stops.
func NewLedgerDesk(d *desk.Desk, vendor ed25519.PrivateKey, baseURL string) *LedgerDesk {
	l := &LedgerDesk{d: d, vendor: vendor, baseURL: strings.TrimSuffix(baseURL, "/"), now: time.Now}
	// The options are fixed and valid and the key is the caller's: an
	// error here is a vendor key of the wrong size, which Issue reports.
	l.issuer, _ = d.NewIssuer(vendor, desk.IssueOptions{Method: desk.Offline, Actor: "portal",
		PortalURL: baseURL}, 0)
	l.onlineIssuer, _ = d.NewIssuer(vendor, desk.IssueOptions{Method: desk.Online, Actor: "portal",
		PortalURL: baseURL}, 0)
	return l
}

// Close stops the group commit after the requests already queued.
func (l *LedgerDesk) Close() {
	if l.issuer != nil {
		l.issuer.Close()
	}
	if l.onlineIssuer != nil {
		l.onlineIssuer.Close()
	}
}

// kindError gives a desk error the portal's kind, keeping its text.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

// deskKinds maps the desk's sentinel errors to the portal's.
var deskKinds = []struct{ desk, portal error }{
	{desk.ErrBadFile, ErrBadFile},
	{desk.ErrWrongOrder, ErrWrongOrder},
	{desk.ErrNotEntitled, ErrNotEntitled},
	{desk.ErrPendingApproval, ErrPendingApproval},
	{desk.ErrNoSeats, ErrNoSeats},
	{desk.ErrConflict, ErrConflict},
	{desk.ErrExpired, ErrExpired},
	{desk.ErrInvalidInput, ErrInvalidInput},
	{desk.ErrMethod, ErrMethod},
	{ledger.ErrNotFound, ErrNotFound},
}

func kind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range deskKinds {
		if errors.Is(err, k.desk) {
			return kindError{k.portal, err}
		}
	}
	return err
}

func (l *LedgerDesk) link(token string) string {
	return l.baseURL + "/approve?t=" + url.QueryEscape(token)
}

// Issue answers a request. A second e-mail address on an order that needs
// the purchaser's approval (A8) starts the approval: the purchaser is
// mailed a link valid 72 hours (A7), once, not at every retry.
func (l *LedgerDesk) Issue(ctx context.Context, v desk.VerifiedRequest, pool string) ([]byte, error) {
	return l.issue(ctx, v, desk.Offline, pool)
}

// IssueOnline answers a request sent by oat activate: the activation is
// recorded as online (A11), with the same approval rule (A8).
func (l *LedgerDesk) IssueOnline(ctx context.Context, v desk.VerifiedRequest) ([]byte, error) {
	return l.issue(ctx, v, desk.Online, "")
}

// CheckIn answers an online installation's check-in (A5).
func (l *LedgerDesk) CheckIn(ctx context.Context, data []byte) ([]byte, error) {
	ack, _, err := l.d.CheckIn(ctx, l.vendor, data)
	return ack, kind(err)
}

// ReleaseOnline accepts a receipt sent by oat deactivate --portal.
func (l *LedgerDesk) ReleaseOnline(ctx context.Context, data []byte) ([]byte, error) {
	ack, _, err := l.d.ReleaseOnline(ctx, l.vendor, data)
	return ack, kind(err)
}

func (l *LedgerDesk) issue(ctx context.Context, v desk.VerifiedRequest, method, pool string) ([]byte, error) {
	issuer := l.issuer
	if method == desk.Online {
		issuer = l.onlineIssuer
	}
	if issuer == nil {
		return nil, errors.New("portal: no vendor key")
	}
	is, err := issuer.IssueVerified(ctx, "request", v, pool)
	if err == nil {
		return is.File, nil
	}
	if !errors.Is(err, desk.ErrPendingApproval) {
		return nil, kind(err)
	}
	// The desk checked the order ID and fulfillment number before it got
	// to the e-mail, so the request is genuine for this order.
	req := v.Request()
	e, aerr := l.d.EmailApproval(ctx, req.Order, req.Email)
	switch {
	case aerr == nil && e.State == "denied":
		return nil, fmt.Errorf("%w: the purchaser of order %s did not approve %s; ask them or the license desk", ErrNotEntitled, req.Order, req.Email)
	case aerr == nil && e.State == "pending" && e.TokenExpires > l.now().Unix():
		return nil, fmt.Errorf("%w: %s is still waiting for approval on order %s (the approval link is valid until %s UTC)",
			ErrPendingApproval, req.Email, req.Order, time.Unix(e.TokenExpires, 0).UTC().Format("2006-01-02 15:04"))
	case aerr != nil && !errors.Is(aerr, ledger.ErrNotFound):
		return nil, aerr
	}
	if _, rerr := l.d.RequestApproval(ctx, req.Order, req.Email, req.Host, l.link); rerr != nil {
		return nil, kind(rerr)
	}
	if o, serr := l.d.Show(ctx, req.Order); serr == nil && o.Email == "" {
		// No purchaser address (boxed products): no mail goes out.
		return nil, fmt.Errorf("%w: %s is not yet approved for order %s: the license desk must approve it; send the same request again once it has (upload the file, or run the same oat activate)",
			ErrPendingApproval, req.Email, req.Order)
	}
	return nil, fmt.Errorf("%w: %s is not yet approved for order %s: we sent the purchaser a link to approve it (valid 72 hours); send the same request again once it is approved (upload the file, or run the same oat activate)",
		ErrPendingApproval, req.Email, req.Order)
}

// Release accepts a release receipt.
func (l *LedgerDesk) Release(ctx context.Context, receipt []byte) (Released, error) {
	r, err := l.d.Release(ctx, receipt)
	if err != nil {
		return Released{}, kind(err)
	}
	return Released{Activation: r.Activation, Host: r.Host, Products: r.Products}, nil
}

// approvalID names an approval (an address on an order) in a URL.
func approvalID(order, email string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(order + "\n" + email))
}

func parseApprovalID(id string) (order, email string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return "", "", false
	}
	order, email, ok = strings.Cut(string(b), "\n")
	return order, email, ok
}

func approvalOf(e *ledger.Email) *Approval {
	a := &Approval{ID: approvalID(e.Order, e.Email), Order: e.Order, Email: e.Email, Host: e.Host, State: e.State,
		Created: time.Unix(e.Requested, 0)}
	if e.TokenExpires > 0 {
		a.Expires = time.Unix(e.TokenExpires, 0)
	}
	return a
}

// Approvals lists the addresses waiting for approval.
func (l *LedgerDesk) Approvals(ctx context.Context) ([]Approval, error) {
	es, err := l.d.Approvals(ctx)
	if err != nil {
		return nil, kind(err)
	}
	out := make([]Approval, 0, len(es))
	for i := range es {
		out = append(out, *approvalOf(&es[i]))
	}
	return out, nil
}

// Decide approves or denies as desk staff.
func (l *LedgerDesk) Decide(ctx context.Context, id string, approve bool, by string) error {
	order, email, ok := parseApprovalID(id)
	if !ok {
		return fmt.Errorf("%w: approval %q", ErrNotFound, id)
	}
	return kind(l.d.Decide(ctx, order, email, approve, "staff:"+by))
}

// ApprovalByToken finds the approval a link names.
func (l *LedgerDesk) ApprovalByToken(ctx context.Context, token string) (*Approval, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no link token", ErrNotFound)
	}
	e, err := l.d.ApprovalByToken(ctx, token)
	if e == nil {
		return nil, kind(err)
	}
	return approvalOf(e), kind(err)
}

// DecideByToken decides through the purchaser's link.
func (l *LedgerDesk) DecideByToken(ctx context.Context, token string, approve bool) error {
	if token == "" {
		return fmt.Errorf("%w: no link token", ErrNotFound)
	}
	return kind(l.d.DecideByToken(ctx, token, approve))
}

// RenewApproval mails a fresh link for an expired one.
func (l *LedgerDesk) RenewApproval(ctx context.Context, token string) error {
	if token == "" {
		return fmt.Errorf("%w: no link token", ErrNotFound)
	}
	_, err := l.d.RenewApproval(ctx, token, l.link)
	return kind(err)
}

// SetPool creates or resizes a pool.
func (l *LedgerDesk) SetPool(ctx context.Context, order, product, pool string, seats int, by string) error {
	return kind(l.d.SetPool(ctx, order, product, pool, int64(seats), "staff:"+by))
}

// ReleaseActivation releases a stale machine by hand.
func (l *LedgerDesk) ReleaseActivation(ctx context.Context, activation, reason, by string) error {
	_, err := l.d.ReleaseStale(ctx, activation, reason, "staff:"+by)
	return kind(err)
}

// PasswordHash returns a staff member's password hash.
func (l *LedgerDesk) PasswordHash(ctx context.Context, name string) (string, error) {
	h, err := l.d.StaffPasswordHash(ctx, name)
	return h, kind(err)
}

// OpenSession records a staff session in the ledger.
func (l *LedgerDesk) OpenSession(ctx context.Context, name string, id []byte, expires time.Time) error {
	return kind(l.d.OpenStaffSession(ctx, name, id, expires))
}

// Session returns who a live staff session belongs to.
func (l *LedgerDesk) Session(ctx context.Context, id []byte) (string, error) {
	name, err := l.d.StaffSession(ctx, id)
	return name, kind(err)
}

// CloseSession ends a staff session.
func (l *LedgerDesk) CloseSession(ctx context.Context, id []byte) error {
	return kind(l.d.CloseStaffSession(ctx, id))
}

var _ Staff = (*LedgerDesk)(nil)

func registration(v *desk.RegistrationView) *Registration {
	if v == nil {
		return nil
	}
	return &Registration{Activation: v.Activation, Order: v.Order, Email: v.Email, Host: v.Host,
		Expires: time.Unix(v.Expires, 0), Verified: v.Verified != 0}
}

// RegistrationByToken finds a registration link's activation.
func (l *LedgerDesk) RegistrationByToken(ctx context.Context, token string) (*Registration, error) {
	v, err := l.d.RegistrationByToken(ctx, token)
	return registration(v), kind(err)
}

// ConfirmRegistration confirms a registration link's address.
func (l *LedgerDesk) ConfirmRegistration(ctx context.Context, token string) error {
	_, err := l.d.ConfirmRegistration(ctx, token)
	return kind(err)
}

// RenewRegistration sends a fresh link for an expired one.
func (l *LedgerDesk) RenewRegistration(ctx context.Context, token string) error {
	_, err := l.d.RenewRegistration(ctx, token, desk.RegistrationLink(l.baseURL))
	return kind(err)
}

// PendingMail returns queued mail.
func (l *LedgerDesk) PendingMail(ctx context.Context, limit int) ([]Mail, error) {
	ms, err := l.d.PendingMail(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Mail, 0, len(ms))
	for _, m := range ms {
		out = append(out, Mail{ID: m.ID, To: m.To, Subject: m.Subject, Body: m.Body})
	}
	return out, nil
}

// MarkSent records a sent message.
func (l *LedgerDesk) MarkSent(ctx context.Context, id int64) error { return l.d.MarkSent(ctx, id) }

// MarkFailed records a failed attempt.
func (l *LedgerDesk) MarkFailed(ctx context.Context, id int64, reason string) error {
	return l.d.MarkFailed(ctx, id, reason)
}

func orderOf(v *desk.OrderView) *Order {
	o := &Order{ID: v.Order, Fulfillment: v.Fulfillment, Email: v.Email}
	for _, l := range v.Products {
		o.Products = append(o.Products, OrderLine{Code: l.Code, Model: l.Model, Seats: l.Seats, Used: l.Used, Free: l.Free, Expires: l.Expires})
	}
	for _, p := range v.Pools {
		o.Pools = append(o.Pools, Pool{Name: p.Name, Product: p.Product, Seats: p.Seats, Used: p.Used, Free: p.Free})
	}
	for _, a := range v.Activations {
		o.Activations = append(o.Activations, Activation{ID: a.ID, Host: a.Host, Email: a.Email, Sequence: uint64(a.Sequence),
			Products: a.Products, Issued: time.Unix(a.Created, 0), Released: a.State == "released", Reason: a.Reason, Verified: a.EmailVerified})
	}
	return o
}

// Orders lists every order.
func (l *LedgerDesk) Orders(ctx context.Context) ([]Order, error) {
	vs, err := l.d.Orders(ctx)
	if err != nil {
		return nil, kind(err)
	}
	out := make([]Order, 0, len(vs))
	for i := range vs {
		out = append(out, *orderOf(&vs[i]))
	}
	return out, nil
}

// Order shows one order.
func (l *LedgerDesk) Order(ctx context.Context, id string) (*Order, error) {
	v, err := l.d.Show(ctx, id)
	if err != nil {
		return nil, kind(err)
	}
	return orderOf(v), nil
}

// Audit returns the newest audit entries.
func (l *LedgerDesk) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	es, err := l.d.Audit(ctx, limit)
	if err != nil {
		return nil, kind(err)
	}
	out := make([]AuditEntry, 0, len(es))
	for _, e := range es {
		detail := e.Detail
		if e.Order != "" {
			detail = "order " + e.Order + " " + detail
		}
		if e.Activation != "" {
			detail = "activation " + e.Activation + " " + detail
		}
		out = append(out, AuditEntry{Time: time.Unix(e.At, 0), Actor: e.Actor, Action: e.Action, Detail: detail})
	}
	return out, nil
}
