package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
)

// Group commit. The portal answers one request per HTTP call, many at
// once. Each in a transaction of its own pays a commit (an fsync on
// SQLite, round trips on PostgreSQL) and, on SQLite, waits for the one
// write lock. An Issuer instead answers the requests that arrive while a
// transaction is running together, in the next transaction: one commit
// for all of them. Each request keeps its own outcome: it runs in a
// request scope (ledger.Tx.Mark), so a refused request takes back only its
// own changes, and the seat checks are the very ones a lone request meets,
// against the counters as the requests before it in the batch left them.
// Requests for different pools go in separate transactions.
//
// What the requests write (activations, allocations, licenses, addresses,
// registrations and their mails, audit entries) waits in memory and is
// written at commit with a few multi-row statements, and the counters with
// one statement per counter row (ledger.Tx.DeferWrites); the reads of the
// issue path see it. So a request that only passes the checks and takes
// seats runs no statement of its own, and a refused one needs no
// savepoint: only a request that must write to the database before the
// commit (a cluster check that reads the counters, GroupHolds) gets one,
// taken lazily before that write.
//
// There is no timer: a lone request finds no transaction running and
// starts one at once, so it waits no longer than before; under load the
// window is the previous transaction's duration, and a batch is at most
// MaxBatch requests.

// DefaultMaxBatch bounds a group commit.
const DefaultMaxBatch = 128

// Issuer answers single requests with group commit. It is safe for
// concurrent use; Close stops it.
type Issuer struct {
	d      *Desk
	vendor ed25519.PrivateKey
	opt    IssueOptions
	max    int
	queue  chan *pending
	done   chan struct{}
	wg     sync.WaitGroup
}

type pending struct {
	ctx    context.Context
	p      parsedRequest
	opt    IssueOptions
	result chan outcome
}

type outcome struct {
	is  Issued
	err error
}

// NewIssuer starts an Issuer that answers requests with opt, signing with
// vendor, at most maxBatch (DefaultMaxBatch if 0) per transaction.
func (d *Desk) NewIssuer(vendor ed25519.PrivateKey, opt IssueOptions, maxBatch int) (*Issuer, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	switch opt.Method {
	case "":
		opt.Method = Offline
	case Offline, Online:
	default:
		return nil, fmt.Errorf("%w: method %q is neither offline nor online", ErrInvalidInput, opt.Method)
	}
	if err := validText("group", opt.Group, 200, false); err != nil {
		return nil, err
	}
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	is := &Issuer{d: d, vendor: vendor, opt: opt, max: maxBatch,
		queue: make(chan *pending, 4*maxBatch), done: make(chan struct{})}
	is.wg.Add(1)
	go is.run()
	return is, nil
}

// Close stops the Issuer after the requests already queued are answered.
func (is *Issuer) Close() {
	close(is.done)
	is.wg.Wait()
}

// ErrClosed is the answer of a closed Issuer.
var ErrClosed = errors.New("the desk is shutting down")

// VerifiedRequest is a request file parsed and its self-signature
// verified. Only VerifyRequest makes one, so a caller that must read a
// request before issuing it (the portal: to refuse a bad file early, lock
// out guessing, name the download) hands it to IssueVerified, and the
// signature is verified once per activation, not twice.
type VerifiedRequest struct {
	req *request.Request
	key ed25519.PublicKey
}

// VerifyRequest parses and verifies a request file, with the errors of
// request.Parse.
func VerifyRequest(data []byte) (VerifiedRequest, error) {
	r, pub, err := request.Parse(data)
	if err != nil {
		return VerifiedRequest{}, err
	}
	return VerifiedRequest{req: r, key: pub}, nil
}

// Request returns a copy of the verified claims: changing it does not
// change what is issued.
func (v VerifiedRequest) Request() request.Request {
	if v.req == nil {
		return request.Request{}
	}
	return *v.req
}

// Issue answers one request file, like IssueOne, with new seats from
// pool of the order ("" for the default pool): the request is parsed and
// verified here, on the caller's goroutine, recorded in the next group
// transaction, and the license is signed here once that committed.
func (is *Issuer) Issue(ctx context.Context, name string, data []byte, pool string) (*Issued, error) {
	if err := validText("pool", pool, 100, false); err != nil {
		return nil, err
	}
	v, err := VerifyRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrBadFile, err)
	}
	return is.IssueVerified(ctx, name, v, pool)
}

// IssueVerified is Issue for a request already verified by VerifyRequest.
func (is *Issuer) IssueVerified(ctx context.Context, name string, v VerifiedRequest, pool string) (*Issued, error) {
	if err := validText("pool", pool, 100, false); err != nil {
		return nil, err
	}
	if v.req == nil {
		return nil, fmt.Errorf("%s: %w: no request", name, ErrBadFile)
	}
	opt := is.opt
	opt.Pool = pool
	r, pub := v.req, v.key
	if err := validRequest(r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &pending{ctx: ctx, p: parsedRequest{name, r, pub}, opt: opt, result: make(chan outcome, 1)}
	select {
	case is.queue <- p:
	case <-is.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the request gets its real answer: the transaction
	// does not stop for one caller that went away, and the answer says
	// whether its seat was recorded.
	o := <-p.result
	if o.err != nil {
		return nil, o.err
	}
	file, err := response.Seal(o.is.License, is.vendor)
	if err != nil {
		return nil, fmt.Errorf("%s: sign the license: %w", name, err)
	}
	o.is.File = file
	return &o.is, nil
}

func (is *Issuer) run() {
	defer is.wg.Done()
	for {
		var first *pending
		select {
		case first = <-is.queue:
		case <-is.done:
			// Answer what is queued still, then stop.
			for {
				select {
				case p := <-is.queue:
					is.answer([]*pending{p})
				default:
					return
				}
			}
		}
		batch := []*pending{first}
		seen := map[string]bool{string(first.p.req.Nonce): true}
		var later []*pending
	gather:
		for len(batch) < is.max {
			select {
			case p := <-is.queue:
				// The same request twice waits for the next batch, where
				// it gets the license the first one recorded.
				if seen[string(p.p.req.Nonce)] {
					later = append(later, p)
					continue
				}
				seen[string(p.p.req.Nonce)] = true
				batch = append(batch, p)
			default:
				break gather
			}
		}
		// Requests with other options (another pool) go in
		// transactions of their own.
		byOpt := map[IssueOptions][]*pending{}
		var opts []IssueOptions
		for _, p := range batch {
			if byOpt[p.opt] == nil {
				opts = append(opts, p.opt)
			}
			byOpt[p.opt] = append(byOpt[p.opt], p)
		}
		for _, o := range opts {
			is.answer(byOpt[o])
		}
		for _, p := range later {
			is.answer([]*pending{p})
		}
	}
}

// answer runs one group transaction for batch and hands every request
// its outcome.
func (is *Issuer) answer(batch []*pending) {
	reqs := make([]parsedRequest, 0, len(batch))
	for _, p := range batch {
		reqs = append(reqs, p.p)
	}
	out, errs := make([]Issued, len(batch)), make([]error, len(batch))
	func() {
		// Every caller waits for its outcome: a panic must not leave them
		// waiting for ever.
		defer func() {
			if v := recover(); v != nil {
				for i := range errs {
					out[i], errs[i] = Issued{}, fmt.Errorf("desk: internal error: %v", v)
				}
			}
		}()
		out, errs = is.d.issueEach(context.Background(), signerOf(is.vendor), reqs, batch[0].opt)
	}()
	for i, p := range batch {
		p.result <- outcome{out[i], errs[i]}
	}
}

// refusal reports whether err is the desk refusing one request (a rule,
// the seats, the input) rather than the ledger failing: a refusal is that
// request's own outcome, a failure ends the whole transaction.
func refusal(err error) bool {
	for _, k := range []error{ErrBadFile, ErrNotEntitled, ErrNoSeats, ErrPendingApproval, ErrConflict,
		ErrExpired, ErrInvalidInput, ErrUsesKeys, ErrReleased, ErrSuperseded, ErrNotFound} {
		if errors.Is(err, k) {
			return !ledger.IsConstraint(err)
		}
	}
	return false
}

// issueEach answers parsed requests with distinct nonces in one ledger
// transaction, each with its own outcome: a request the desk refuses gets
// its error and its changes are taken back (ledger.Tx.Mark and Undo), the
// others are recorded. An error of the ledger itself fails them all. The
// licenses are not signed here.
func (d *Desk) issueEach(ctx context.Context, signer ed25519.PublicKey, reqs []parsedRequest, opt IssueOptions) ([]Issued, []error) {
	out := make([]Issued, len(reqs))
	errs := make([]error, len(reqs))
	var orderIDs []string
	var nonces, keys [][]byte
	for _, p := range reqs {
		orderIDs = append(orderIDs, p.req.Order)
		nonces, keys = append(nonces, p.req.Nonce), append(keys, p.key)
	}
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		clear(out)
		clear(errs)
		now := d.now().Unix()
		// A key the ledger does not list is refused before anything changes.
		if err := checkVendor(ctx, tx, signer, now, opt.Actor); err != nil {
			return err
		}
		orders, err := tx.LockOrders(ctx, orderIDs...)
		if err != nil {
			return err
		}
		b, err := newBatch(ctx, tx, orders, nonces, keys)
		if err != nil {
			return err
		}
		b.cache.signer = keyID(signer)
		// What the requests add waits in memory and is written with
		// multi-row statements at commit (ledger.Tx.DeferWrites).
		tx.DeferWrites()
		alone := len(reqs) == 1
		for i, p := range reqs {
			if alone {
				// A lone request needs no savepoint: its refusal rolls
				// back the transaction, which holds nothing else.
				out[i], errs[i] = d.issueOne(ctx, b, p, opt, now)
				if errs[i] != nil {
					if refusal(errs[i]) {
						errs[i] = fmt.Errorf("%s: %w", p.name, errs[i])
						return errLoneRefused
					}
					return errs[i]
				}
				continue
			}
			sp := tx.Mark()
			mark := b.mark(p.key)
			is, err := d.issueOne(ctx, b, p, opt, now)
			if err != nil {
				if !refusal(err) {
					return err
				}
				if rerr := tx.Undo(ctx, sp); rerr != nil {
					return rerr
				}
				b.restore(mark)
				errs[i] = fmt.Errorf("%s: %w", p.name, err)
				continue
			}
			if err := tx.Keep(ctx, sp); err != nil {
				return err
			}
			out[i] = is
		}
		if d.beforeCommit != nil {
			return d.beforeCommit()
		}
		return nil
	})
	if errors.Is(err, errLoneRefused) {
		return out, errs
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return out, errs
}

// errLoneRefused rolls back the transaction of a lone refused request.
var errLoneRefused = errors.New("refused")

// batchMark is what a request may change in a batch's memory, to take
// back; ledger.Tx.Undo takes back what it changed in the ledger.
type batchMark struct {
	key   string
	act   ledger.Activation
	had   bool
	cache cacheMark
}

func (b *batch) mark(key []byte) batchMark {
	act, had := b.active[string(key)]
	return batchMark{string(key), act, had, b.cache.mark()}
}

func (b *batch) restore(m batchMark) {
	if m.had {
		b.active[m.key] = m.act
	} else {
		delete(b.active, m.key)
	}
	b.cache.restore(m.cache)
}
