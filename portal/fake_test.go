package portal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
)

// fakeDesk is a desk in memory for the HTTP tests: it signs real licenses
// with a real vendor key, answers by order ID with the desk's errors, and
// records what staff did. The real desk is exercised by the browser test.
type fakeDesk struct {
	vendor ed25519.PrivateKey
	now    func() time.Time

	mu        sync.Mutex
	issued    map[string][]byte // nonce → license
	issues    int
	receipts  map[string]bool
	approvals map[string]*Approval // token → approval
	decided   []string
	renewed   []string
	pools     []string
	released  []string
	outbox    []Mail
	sent      []int64
	failed    []int64
}

func newFakeDesk(t testing.TB) *fakeDesk {
	_, vendor, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeDesk{vendor: vendor, now: time.Now, issued: map[string][]byte{}, receipts: map[string]bool{}, approvals: map[string]*Approval{}}
}

func (d *fakeDesk) Issue(_ context.Context, v desk.VerifiedRequest, pool string) ([]byte, error) {
	req := v.Request()
	switch req.Order {
	case "NOSEATS":
		return nil, fmt.Errorf("order %s: %w", req.Order, ErrNoSeats)
	case "PENDING":
		return nil, fmt.Errorf("%s on order %s: %w", req.Email, req.Order, ErrPendingApproval)
	case "UNKNOWN":
		return nil, fmt.Errorf("order %s: %w", req.Order, ErrNotEntitled)
	case "BROKEN":
		return nil, fmt.Errorf("database password is hunter2: connection refused")
	case "PANIC":
		panic("desk exploded at secret line")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if lic, ok := d.issued[string(req.Nonce)]; ok {
		return lic, nil
	}
	d.issues++
	id := make([]byte, 16)
	rand.Read(id)
	lic, err := response.Seal(response.License{
		Issuer: "test desk", Activation: fmt.Sprintf("act-%d", d.issues), NotBefore: d.now().Unix() - 60,
		IssuedAt: d.now().Unix(), ID: id, Confirm: req.Confirm, Sequence: 1, Nonce: req.Nonce,
		Host: req.Host, Machine: req.Machine,
		Products: []response.Entitlement{{Code: "backup-server", Order: req.Order, Fulfillment: req.Fulfillment, Model: "server", Seats: 1}},
	}, d.vendor)
	if err != nil {
		return nil, err
	}
	d.issued[string(req.Nonce)] = lic
	return lic, nil
}

func (d *fakeDesk) Release(_ context.Context, data []byte) (Released, error) {
	r, err := release.Peek(data)
	if err != nil {
		return Released{}, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.receipts[string(r.ID)] {
		return Released{}, fmt.Errorf("receipt: %w: already accepted", ErrConflict)
	}
	d.receipts[string(r.ID)] = true
	return Released{Activation: r.Activation, Host: r.Host, Products: []string{"backup-server"}}, nil
}

func (d *fakeDesk) Orders(context.Context) ([]Order, error) {
	o, _ := d.Order(context.Background(), "ORD-1")
	return []Order{*o}, nil
}

func (d *fakeDesk) Order(_ context.Context, id string) (*Order, error) {
	if id != "ORD-1" {
		return nil, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return &Order{ID: "ORD-1", Fulfillment: "FN-1", Email: "buyer@example.com",
		Products:    []OrderLine{{Code: "backup-server", Seats: 5, Used: 2, Free: 3}},
		Pools:       []Pool{{Name: "Tokyo", Product: "backup-server", Seats: 2, Used: 1}},
		Activations: []Activation{{ID: "act-1", Host: "db01", Email: "buyer@example.com", Sequence: 1, Products: []string{"backup-server"}, Issued: d.now()}},
	}, nil
}

func (d *fakeDesk) Approvals(context.Context) ([]Approval, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Approval
	for _, a := range d.approvals {
		if a.State == "pending" {
			out = append(out, *a)
		}
	}
	return out, nil
}

func (d *fakeDesk) Decide(_ context.Context, id string, approve bool, by string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.approvals {
		if a.ID == id {
			a.State = map[bool]string{true: "approved", false: "denied"}[approve]
			d.decided = append(d.decided, fmt.Sprintf("%s %s by %s", id, a.State, by))
			return nil
		}
	}
	return fmt.Errorf("approval %s: %w", id, ErrNotFound)
}

func (d *fakeDesk) ApprovalByToken(_ context.Context, tok string) (*Approval, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.approvals[tok]
	if !ok {
		return nil, ErrNotFound
	}
	c := *a
	if d.now().After(a.Expires) {
		return &c, ErrExpired
	}
	return &c, nil
}

func (d *fakeDesk) DecideByToken(ctx context.Context, tok string, approve bool) error {
	a, err := d.ApprovalByToken(ctx, tok)
	if err != nil {
		return err
	}
	if err := d.Decide(ctx, a.ID, approve, "purchaser"); err != nil {
		return err
	}
	// A decided link is used up, as in the desk.
	d.mu.Lock()
	delete(d.approvals, tok)
	d.mu.Unlock()
	return nil
}

func (d *fakeDesk) RenewApproval(_ context.Context, tok string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.approvals[tok]
	if !ok {
		return ErrNotFound
	}
	d.renewed = append(d.renewed, a.ID)
	return nil
}

func (d *fakeDesk) SetPool(_ context.Context, order, product, pool string, seats int, by string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seats > 5 {
		return fmt.Errorf("pool %s: %d seats: %w: the order has 5", pool, seats, ErrInvalidInput)
	}
	d.pools = append(d.pools, fmt.Sprintf("%s/%s/%s=%d by %s", order, product, pool, seats, by))
	return nil
}

func (d *fakeDesk) ReleaseActivation(_ context.Context, id, reason, by string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released = append(d.released, fmt.Sprintf("%s (%s) by %s", id, reason, by))
	return nil
}

func (d *fakeDesk) Audit(context.Context, int) ([]AuditEntry, error) {
	return []AuditEntry{{Time: d.now(), Actor: "desk", Action: "issue", Detail: "act-1 on db01 <script>"}}, nil
}

func (d *fakeDesk) PendingMail(_ context.Context, limit int) ([]Mail, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Mail
	for _, m := range d.outbox {
		if !containsID(d.sent, m.ID) && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (d *fakeDesk) MarkSent(_ context.Context, id int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, id)
	return nil
}

func (d *fakeDesk) MarkFailed(_ context.Context, id int64, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = append(d.failed, id)
	return nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// newRequest makes a real, self-signed request file for order.
func newRequest(t testing.TB, order, host string) ([]byte, ed25519.PrivateKey) {
	t.Helper()
	_, inst, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, request.NonceSize)
	rand.Read(nonce)
	salt := make([]byte, 16)
	rand.Read(salt)
	data, err := request.Seal(request.Request{
		IssuedAt: time.Now().Unix(), Nonce: nonce, Order: order, Fulfillment: "FN-1", Email: "ops@example.com",
		Products: []string{"backup-server"}, Host: host,
		Machine: machine.Fingerprint{Salt: salt, GUID: bytes.Repeat([]byte{1}, 16), OS: "linux", Class: "server"},
	}, inst)
	if err != nil {
		t.Fatal(err)
	}
	return data, inst
}

// fakeStaff is a staff directory in memory, keeping sessions like the
// ledger does: by the hash of the cookie token.
type fakeStaff struct {
	now      func() time.Time
	mu       sync.Mutex
	members  map[string]string // name → hash
	sessions map[string]fakeSession
}

type fakeSession struct {
	name    string
	expires time.Time
}

// testPassword is Hanako's password on every test portal.
const testPassword = "correct horse battery"

func newFakeStaff(t testing.TB) *fakeStaff {
	h, err := HashPassword([]byte(testPassword), PasswordParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeStaff{now: time.Now, members: map[string]string{"Hanako": h}, sessions: map[string]fakeSession{}}
}

func (f *fakeStaff) PasswordHash(_ context.Context, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.members[name]
	if !ok {
		return "", fmt.Errorf("staff member %s: %w", name, ErrNotFound)
	}
	return h, nil
}

func (f *fakeStaff) OpenSession(_ context.Context, name string, id []byte, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[string(id)] = fakeSession{name, expires}
	return nil
}

func (f *fakeStaff) Session(_ context.Context, id []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[string(id)]
	if !ok || !s.expires.After(f.now()) {
		return "", fmt.Errorf("session: %w", ErrNotFound)
	}
	return s.name, nil
}

func (f *fakeStaff) CloseSession(_ context.Context, id []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, string(id))
	return nil
}

// setPassword rotates a member's password and ends their sessions, as
// the desk does.
func (f *fakeStaff) setPassword(t testing.TB, name, pw string) {
	h, err := HashPassword([]byte(pw), PasswordParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[name] = h
	for id, s := range f.sessions {
		if s.name == name {
			delete(f.sessions, id)
		}
	}
}

// The fake desk mails no registrations: the real desk's are tested in
// ledgerdesk_test.go.
func (d *fakeDesk) RegistrationByToken(context.Context, string) (*Registration, error) {
	return nil, ErrNotFound
}
func (d *fakeDesk) ConfirmRegistration(context.Context, string) error { return ErrNotFound }
func (d *fakeDesk) RenewRegistration(context.Context, string) error   { return ErrNotFound }
