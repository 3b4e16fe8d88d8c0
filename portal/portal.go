// Package portal is the license desk's web front: the page where an
// operator on an internet-connected PC uploads a request file and downloads
// the license (A6), the HTTP API behind it, the desk staff's area (orders,
// e-mail approvals, pools, releases, audit log), the purchaser's approval
// links (A7, A8), and the sender that delivers the desk's queued mail.
//
// The portal holds no state of its own beyond the process: everything
// lasting is in the desk's ledger, reached through the Desk interface, so
// several portal processes can serve the same ledger behind a load balancer.
// Staff sessions are signed cookies keyed from the vendor key for the same
// reason.
package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oat-toolkit/oat/desk"
)

// Desk is what the portal needs of the license desk. Every method is safe
// for concurrent use. Errors wrap the sentinels below so that the portal can
// answer with the right HTTP status.
type Desk interface {
	// Issue answers a request file, verified by the portal as it read
	// it, with an armored license file, taking a new activation's seats
	// from the order's license pool named pool ("" for the default pool,
	// A12). The same request issued twice returns the same license.
	Issue(ctx context.Context, request desk.VerifiedRequest, pool string) (license []byte, err error)
	// Release accepts a release receipt once.
	Release(ctx context.Context, receipt []byte) (Released, error)

	// Orders lists the orders with their seats; Order shows one in full.
	Orders(ctx context.Context) ([]Order, error)
	Order(ctx context.Context, id string) (*Order, error)
	// Approvals lists the approval requests still waiting (A8).
	Approvals(ctx context.Context) ([]Approval, error)
	// Decide approves or denies a waiting approval as desk staff.
	Decide(ctx context.Context, id string, approve bool, by string) error
	// ApprovalByToken finds the approval a purchaser's link points to. An
	// expired link wraps ErrExpired and still returns the approval.
	ApprovalByToken(ctx context.Context, token string) (*Approval, error)
	// DecideByToken approves or denies through a purchaser's link.
	DecideByToken(ctx context.Context, token string, approve bool) error
	// RenewApproval sends a fresh 72-hour link for an expired one (A7).
	RenewApproval(ctx context.Context, token string) error
	// SetPool creates or resizes a named license pool on an order (A12).
	SetPool(ctx context.Context, order, product, pool string, seats int, by string) error
	// ReleaseActivation frees a stale machine's seats by hand (A21).
	ReleaseActivation(ctx context.Context, activation, reason, by string) error
	// RegistrationByToken finds the registration a link points to. An
	// expired link wraps ErrExpired and still returns the registration.
	RegistrationByToken(ctx context.Context, token string) (*Registration, error)
	// ConfirmRegistration records the link's address as verified.
	ConfirmRegistration(ctx context.Context, token string) error
	// RenewRegistration mails a fresh 72-hour link for one that expired.
	RenewRegistration(ctx context.Context, token string) error
	// Audit returns the newest audit entries, newest first.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
}

// OnlineDesk is what the portal needs of the desk to serve online
// activation (A5, A11): the same request recorded as online, check-ins,
// and releases sent online. Every answer is a file signed by the vendor
// key. A portal without one serves offline activation only.
type OnlineDesk interface {
	// IssueOnline answers a request file like Desk.Issue, recording the
	// activation as online.
	IssueOnline(ctx context.Context, request desk.VerifiedRequest) (license []byte, err error)
	// CheckIn answers a check-in with an acknowledgement bound to its
	// nonce, carrying a newer license if the desk has one.
	CheckIn(ctx context.Context, checkin []byte) (ack []byte, err error)
	// ReleaseOnline accepts an online release receipt and answers with an
	// acknowledgement bound to the receipt's ID. The same receipt sent
	// again gets the same answer and frees nothing twice.
	ReleaseOnline(ctx context.Context, receipt []byte) (ack []byte, err error)
}

// Outbox is the desk's queue of mail to send. Mail stays queued until
// MarkSent, so nothing is lost while the mail server is down.
type Outbox interface {
	// PendingMail returns up to limit messages due for sending.
	PendingMail(ctx context.Context, limit int) ([]Mail, error)
	MarkSent(ctx context.Context, id int64) error
	// MarkFailed records a failed attempt; the message stays queued.
	MarkFailed(ctx context.Context, id int64, reason string) error
}

// Mail is one queued message.
type Mail struct {
	ID      int64
	To      string
	Subject string
	Body    string
}

// Released is what the desk says about an accepted release receipt.
type Released struct {
	Activation string   `json:"activation"`
	Host       string   `json:"host"`
	Products   []string `json:"products"`
}

// Order is an order with its seats, pools and activations.
type Order struct {
	ID          string       `json:"order"`
	Fulfillment string       `json:"fulfillment"`
	Email       string       `json:"email"`
	Products    []OrderLine  `json:"products"`
	Pools       []Pool       `json:"pools,omitempty"`
	Activations []Activation `json:"activations,omitempty"`
}

// OrderLine is one product on an order.
type OrderLine struct {
	Code    string `json:"code"`
	Model   string `json:"model,omitempty"`
	Seats   int64  `json:"seats"`
	Used    int64  `json:"used"`
	Free    int64  `json:"free"`
	Expires string `json:"expires,omitempty"` // last day of a subscription, YYYY-MM-DD
}

// Pool is a named allocation of an order's seats (A12).
type Pool struct {
	Name    string `json:"name"`
	Product string `json:"product"`
	Seats   int64  `json:"seats"`
	Used    int64  `json:"used"`
	Free    int64  `json:"free"`
}

// Activation is one installation's hold on an order.
type Activation struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Email    string    `json:"email"`
	Sequence uint64    `json:"sequence"`
	Products []string  `json:"products"`
	Issued   time.Time `json:"issued"`
	Released bool      `json:"released"`
	Reason   string    `json:"release_reason,omitempty"`
	// Verified: the address given at activation was confirmed through
	// the registration mail's link (FAQ 2.1, 2.9).
	Verified bool `json:"email_verified"`
}

// Registration is the registration mail of an activation (FAQ 2.1, 2.9):
// the link in it confirms the address given at activation.
type Registration struct {
	Activation string    `json:"activation"`
	Order      string    `json:"order"`
	Email      string    `json:"email"`
	Host       string    `json:"host"`
	Expires    time.Time `json:"expires"`
	Verified   bool      `json:"verified"`
}

// Approval is a request by a second e-mail address to use an order, waiting
// on the purchaser (or the desk) to approve it (A8).
type Approval struct {
	ID      string    `json:"id"`
	Order   string    `json:"order"`
	Email   string    `json:"email"` // the address asking
	Host    string    `json:"host"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"` // when the purchaser's link stops working
	State   string    `json:"state"`   // pending, approved, denied
}

// AuditEntry is one line of the desk's append-only audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail"`
}

// The errors a Desk wraps so that the portal answers with the right status.
var (
	ErrBadFile         = errors.New("not a valid file")                       // 400
	ErrNotEntitled     = errors.New("not entitled")                           // 403
	ErrNoSeats         = errors.New("no free seats")                          // 409
	ErrPendingApproval = errors.New("waiting for the purchaser's approval")   // 409
	ErrConflict        = errors.New("conflicts with the ledger")              // 409
	ErrNotFound        = errors.New("not found")                              // 404
	ErrExpired         = errors.New("the link has expired")                   // 410
	ErrInvalidInput    = errors.New("invalid input")                          // 400
	ErrUnavailable     = errors.New("the license desk is unavailable, retry") // 503
	ErrMethod          = errors.New("the activation was made the other way")  // 409
	// ErrWrongOrder: no order has this order ID and fulfillment number.
	// A desk answers an unknown order and a wrong fulfillment number with
	// it alike; the portal counts these toward locking the order out.
	ErrWrongOrder = fmt.Errorf("%w", ErrNotEntitled) // 403
)
