package desk

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// Input is a file given to the desk, with the name errors call it by.
type Input struct {
	Name string
	Data []byte
}

// IssueOptions qualify requests the desk answers.
type IssueOptions struct {
	// Method is how the activation is done: Offline (the default, a
	// request file) or Online (A11).
	Method string
	// Group names the hypervisor host or cluster group, for models that
	// count those (the request cannot know them; the operator does).
	Group string
	// Actor is who asks, for the audit log ("desk" by default).
	Actor string
	// Pool is the named license pool of the order the new seats come
	// from (A12, FAQ 2.22); "" is "Default (Unassigned Licenses)". Every
	// product the request takes must have that pool on the order.
	Pool string
	// PortalURL is the license portal's public address, which the new
	// activation's registration mail links to ("" for a link relative
	// to the portal).
	PortalURL string
}

// Issued is a license the desk issued (or, for a repeated request,
// issued before).
type Issued struct {
	Name       string // the Input's name
	Activation string
	Sequence   uint64
	New        bool // a new activation was recorded
	Repeat     bool // the request had been answered already: the same license again
	License    response.License
	File       []byte // the signed, armored license file
}

// clockSkew is how far before its issue time a license is valid, so that
// an isolated server whose clock lags the desk's can install it.
const clockSkew = 24 * time.Hour

type parsedRequest struct {
	name string
	req  *request.Request
	key  ed25519.PublicKey
}

// Issue answers requests, all in one ledger transaction: either every
// request is granted and recorded, or none is and the error names the
// request that was refused. The license files are signed with vendor only
// after the transaction committed.
func (d *Desk) Issue(ctx context.Context, vendor ed25519.PrivateKey, in []Input, opt IssueOptions) ([]Issued, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no request", ErrInvalidInput)
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
	if err := validText("pool", opt.Pool, 100, false); err != nil {
		return nil, err
	}
	// Verifying the requests' signatures is most of the work before the
	// transaction; a batch spreads it over the CPUs. Errors are reported
	// for the first bad request in the order given, as before.
	type parsed struct {
		r   *request.Request
		pub ed25519.PublicKey
		err error
	}
	ps := make([]parsed, len(in))
	parallel(len(in), func(i int) {
		ps[i].r, ps[i].pub, ps[i].err = request.Parse(in[i].Data)
	})
	var reqs []parsedRequest
	var orderIDs []string
	nonces := map[string]string{}
	var nonceList, keyList [][]byte
	for i, f := range in {
		r, pub, err := ps[i].r, ps[i].pub, ps[i].err
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", f.Name, ErrBadFile, err)
		}
		if err := validRequest(r); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if other, dup := nonces[string(r.Nonce)]; dup {
			return nil, fmt.Errorf("%s: %w: the same request as %s", f.Name, ErrInvalidInput, other)
		}
		nonces[string(r.Nonce)] = f.Name
		reqs = append(reqs, parsedRequest{f.Name, r, pub})
		nonceList, keyList = append(nonceList, r.Nonce), append(keyList, pub)
		orderIDs = append(orderIDs, r.Order)
	}
	var out []Issued
	var seal *sealer
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		out = out[:0]
		if seal != nil {
			seal.wait() // an earlier attempt's signatures: dropped
		}
		seal = newSealer(vendor, len(reqs))
		now := d.now().Unix()
		// A key the ledger does not list is refused before anything changes.
		if err := checkVendor(ctx, tx, signerOf(vendor), now, opt.Actor); err != nil {
			return err
		}
		orders, err := tx.LockOrders(ctx, orderIDs...)
		if err != nil {
			return err
		}
		// What every request needs first, read for the whole batch at once:
		// the licenses already answering these requests (a repeat gets the
		// same license) and the installations' active activations (locked).
		b, err := newBatch(ctx, tx, orders, nonceList, keyList)
		if err != nil {
			return err
		}
		b.cache.signer = keyID(signerOf(vendor))
		// What the requests add is written at commit, a few multi-row
		// statements for the whole batch (ledger.Tx.DeferWrites).
		tx.DeferWrites()
		for _, p := range reqs {
			is, err := d.issueOne(ctx, b, p, opt, now)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			out = append(out, is)
			seal.seal(len(out)-1, is.License)
		}
		if d.beforeCommit != nil {
			return d.beforeCommit()
		}
		return nil
	})
	if seal != nil {
		seal.wait()
	}
	if err != nil {
		return nil, err
	}
	// The licenses are recorded (committed): only now are the files handed out.
	for i := range out {
		if seal.errs[i] != nil {
			return nil, fmt.Errorf("%s: sign the license: %w", out[i].Name, seal.errs[i])
		}
		out[i].File = seal.files[i]
	}
	return out, nil
}

// sealer signs licenses on other goroutines while the transaction that
// records them goes on, so that signing overlaps the remaining queries and
// the commit's fsync instead of following them. The signed files stay
// here until the caller has committed the transaction: a file is handed
// out only after its issue is recorded (S3), and what an aborted or
// retried attempt signed is dropped.
type sealer struct {
	vendor ed25519.PrivateKey
	sem    chan struct{} // bounds the signers to the CPUs
	wg     sync.WaitGroup
	files  [][]byte
	errs   []error
}

func newSealer(vendor ed25519.PrivateKey, n int) *sealer {
	return &sealer{vendor: vendor, sem: make(chan struct{}, runtime.GOMAXPROCS(0)),
		files: make([][]byte, n), errs: make([]error, n)}
}

// seal signs l as the i-th file in the background.
func (s *sealer) seal(i int, l response.License) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sem <- struct{}{}
		defer func() { <-s.sem }()
		s.files[i], s.errs[i] = response.Seal(l, s.vendor)
	}()
}

// wait waits for every signature started.
func (s *sealer) wait() { s.wg.Wait() }

// parallel calls f(0) … f(n-1) on up to GOMAXPROCS goroutines and waits
// for them; each call must touch only its own index's data.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// IssueOne answers one request.
func (d *Desk) IssueOne(ctx context.Context, vendor ed25519.PrivateKey, name string, data []byte, opt IssueOptions) (*Issued, error) {
	out, err := d.Issue(ctx, vendor, []Input{{Name: name, Data: data}}, opt)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

func validRequest(r *request.Request) error {
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"order", r.Order, true}, {"fulfillment number", r.Fulfillment, true}, {"e-mail", r.Email, true}, {"host", r.Host, false}} {
		if err := validText(f.name, f.v, 200, f.required); err != nil {
			return err
		}
	}
	if len(r.Products) > 64 {
		return fmt.Errorf("%w: more than 64 products", ErrInvalidInput)
	}
	// The client checks this too, but the request comes from the customer.
	if err := machine.CheckEvidence(r.Machine); err != nil {
		return fmt.Errorf("%w: %w; run oat request as root (Administrator on Windows)", ErrInvalidInput, err)
	}
	return nil
}

// batch is what one issue transaction knows about its requests. Requests
// in a batch have distinct nonces, so answered (read before the first
// request) stays true; active is kept current as the batch records
// activations, so two requests of one installation share one activation.
type batch struct {
	cache    *txCache
	answered map[string]ledger.License    // by nonce
	active   map[string]ledger.Activation // by installation key
}

// newBatch reads what the requests with these nonces and installation
// keys need first, for orders locked in tx.
func newBatch(ctx context.Context, tx *ledger.Tx, orders map[string]ledger.Order, nonces, keys [][]byte) (*batch, error) {
	b := &batch{cache: newTxCache(tx, orders)}
	var err error
	if b.answered, err = tx.LicensesByNonce(ctx, nonces); err != nil {
		return nil, err
	}
	if b.active, err = tx.ActiveActivationsByKey(ctx, keys); err != nil {
		return nil, err
	}
	return b, nil
}

func (d *Desk) issueOne(ctx context.Context, b *batch, p parsedRequest, opt IssueOptions, now int64) (Issued, error) {
	r := p.req
	tx, c := b.cache.tx, b.cache
	// The same request again gets the same license: no second seat.
	if prev, ok := b.answered[string(r.Nonce)]; ok {
		act, err := tx.Activation(ctx, prev.Activation)
		if err != nil {
			return Issued{}, err
		}
		if !bytes.Equal(act.InstallKey, p.key) {
			return Issued{}, fmt.Errorf("%w: this request's nonce was answered for another installation", ErrConflict)
		}
		// Released means released: the old license answers nothing now.
		if act.State != "active" {
			how, err := releasedHow(ctx, tx, act)
			if err != nil {
				return Issued{}, err
			}
			return Issued{}, fmt.Errorf("%w: this request was answered by activation %s, which %s on %s; its license is no longer in force: make a new request (oat request) to activate again", ErrReleased, act.ID, how, day(act.Released))
		}
		if prev.Seq != act.Seq {
			return Issued{}, fmt.Errorf("%w: this request was answered by license %d of activation %s, which license %d has superseded; install the newest license, or ask the desk for it (oat desk update)", ErrSuperseded, prev.Seq, act.ID, act.Seq)
		}
		// The same file again, or a clear refusal: Ed25519 is deterministic,
		// so the key that signed it gives the very same bytes.
		if prev.Signer != "" && prev.Signer != c.signer {
			return Issued{}, fmt.Errorf("%w: this request was answered with vendor key %s; sign the repeat with that key to get the same file", ErrConflict, prev.Signer)
		}
		var l response.License
		if err := signing.UnmarshalClaims(prev.Claims, &l); err != nil {
			return Issued{}, fmt.Errorf("license %d of activation %s in the ledger: %w", prev.Seq, act.ID, err)
		}
		return Issued{Name: p.name, Activation: act.ID, Sequence: l.Sequence, Repeat: true, License: l}, nil
	}

	o, ok := c.orders[r.Order]
	if !ok {
		return Issued{}, wrongOrder()
	}
	if !checkFulfillment(o, r.Fulfillment) {
		return Issued{}, wrongOrder()
	}
	email := normEmail(r.Email)
	if err := checkEmail(ctx, tx, o, email); err != nil {
		return Issued{}, err
	}
	if err := c.checkMethod(ctx, o.ID, opt.Method); err != nil {
		return Issued{}, err
	}
	codes, err := requestedCodes(ctx, c, o.ID, r.Products)
	if err != nil {
		return Issued{}, err
	}
	fpBytes, err := signing.MarshalClaims(r.Machine)
	if err != nil {
		return Issued{}, fmt.Errorf("%w: machine: %w", ErrBadFile, err)
	}

	act, found := b.active[string(p.key)]
	isNew := !found
	var held []ledger.Allocation
	if isNew {
		act = ledger.Activation{ID: newID("act-"), InstallKey: p.key, Method: opt.Method, Group: opt.Group,
			State: "active", Created: now}
	} else {
		// The installation is activated already: a reinstall or a product
		// added on the same machine gets an updated license, not a new
		// seat; the same installation on other hardware is a clone (B4)
		// or a recovery (A26) and must release the old activation first.
		var stored machine.Fingerprint
		if err := signing.UnmarshalClaims(act.Machine, &stored); err != nil {
			return Issued{}, fmt.Errorf("activation %s: machine in the ledger: %w", act.ID, err)
		}
		m, err := machine.Compare(stored, r.Machine)
		if err != nil || !m.OK {
			why := err
			if why == nil {
				why = errors.New(m.String())
			}
			return Issued{}, fmt.Errorf("%w: this installation is activated as %s on another machine (host %q; %v): release that activation before activating here, or have the desk rebind it with oat desk move (A16, A26, B4)", ErrConflict, act.ID, act.Host, why)
		}
		// A request that matches but carries less evidence than the
		// activation holds would replace the stored fingerprint with a
		// weaker one, which a later clone could then match.
		if sp := machine.Sparser(stored, r.Machine); len(sp) > 0 {
			return Issued{}, fmt.Errorf("%w: this request carries less machine evidence than activation %s holds (missing: %s); run oat request as root (Administrator on Windows), or have the desk rebind it with oat desk move (A26)", ErrConflict, act.ID, strings.Join(sp, ", "))
		}
		if act.Method != opt.Method {
			return Issued{}, fmt.Errorf("%w: activation %s is %s; release it before activating %s (A20)", ErrConflict, act.ID, act.Method, opt.Method)
		}
		if opt.Group != "" && act.Group != "" && opt.Group != act.Group {
			return Issued{}, fmt.Errorf("%w: activation %s is in group %q, not %q", ErrConflict, act.ID, act.Group, opt.Group)
		}
		if act.Group == "" {
			act.Group = opt.Group
		}
		if held, err = tx.ActivationAllocations(ctx, act.ID); err != nil {
			return Issued{}, err
		}
	}
	act.Machine, act.MachineHash, act.Host, act.Email = fpBytes, hashHex(fpBytes), r.Host, email
	act.Seq++
	act.Updated = now
	if isNew {
		if err := tx.InsertActivation(ctx, act); err != nil {
			return Issued{}, err
		}
	}
	added, allocs, err := allocateCodes(ctx, c, act, held, o, codes, opt.Pool, r.Machine, now)
	if err != nil {
		return Issued{}, err
	}
	// A new activation was inserted as it is now; an existing one is
	// written back with the license.
	l, err := d.license(ctx, c, act, append(held, allocs...), !isNew, r.Machine, r.Nonce, now)
	if err != nil {
		return Issued{}, err
	}
	b.active[string(p.key)] = act
	if err := tx.RecordAddress(ctx, o.ID, email, now); err != nil {
		return Issued{}, err
	}
	if isNew {
		// The registration mail of every activation, online or offline
		// (FAQ 2.1, 2.9), queued with it.
		if err := d.queueRegistration(ctx, tx, act, o.ID, RegistrationLink(opt.PortalURL), now); err != nil {
			return Issued{}, err
		}
	}
	action := "activation.update"
	if isNew {
		action = "activation.new"
	}
	if err := c.audit(ctx, now, opt.Actor, action, o.ID, act.ID, map[string]any{
		"seq": act.Seq, "host": r.Host, "email": email, "method": act.Method, "group": act.Group,
		"added": added, "pool": orDefault(opt.Pool), "request": fmt.Sprintf("%x", r.Nonce), "key": keyID(p.key)}); err != nil {
		return Issued{}, err
	}
	return Issued{Name: p.name, Activation: act.ID, Sequence: l.Sequence, New: isNew, License: l}, nil
}

// requestedCodes is the products a request asks for on an order: those it
// names, each of which must be on the order, or else all of the order's.
func requestedCodes(ctx context.Context, c *txCache, order string, asked []string) ([]string, error) {
	lines, err := c.orderLines(ctx, order)
	if err != nil {
		return nil, err
	}
	var onOrder []string
	for _, l := range lines {
		onOrder = append(onOrder, l.Product)
	}
	if len(asked) == 0 {
		return onOrder, nil
	}
	cache := c
	var out []string
	for _, c := range asked {
		if slices.Contains(out, c) {
			continue
		}
		if _, _, err := cache.product(ctx, c); err != nil {
			return nil, err
		}
		if !slices.Contains(onOrder, c) {
			return nil, fmt.Errorf("%w: %s is not on order %s", ErrNotEntitled, c, order)
		}
		out = append(out, c)
	}
	return out, nil
}

// allocateCodes gives an activation seats of an order's products it does
// not hold yet, and returns those products and the allocations made. held
// is what the activation holds (ActivationAllocations; none if it is new).
func allocateCodes(ctx context.Context, c *txCache, act ledger.Activation, held []ledger.Allocation, o ledger.Order, codes []string, pool string, fp machine.Fingerprint, now int64) ([]string, []ledger.Allocation, error) {
	models := map[string]Model{}
	var all []string
	holds := map[string]bool{}
	for _, a := range held {
		if a.Released != 0 {
			continue
		}
		if a.Order == o.ID {
			holds[a.Product] = true
		}
		if _, m, err := c.product(ctx, a.Product); err == nil {
			models[a.Product] = m
		} else {
			return nil, nil, err
		}
		if !slices.Contains(all, a.Product) {
			all = append(all, a.Product)
		}
	}
	var todo []string
	for _, code := range codes {
		if holds[code] {
			continue
		}
		_, m, err := c.product(ctx, code)
		if err != nil {
			return nil, nil, err
		}
		models[code] = m
		todo = append(todo, code)
		if !slices.Contains(all, code) {
			all = append(all, code)
		}
	}
	if err := checkAlone(all, models); err != nil {
		return nil, nil, err
	}
	var made []ledger.Allocation
	for _, code := range todo {
		m := models[code]
		if err := fit(code, m, fp); err != nil {
			return nil, nil, err
		}
		group, err := groupFor(code, m, act.Group, act.InstallKey, act.Email, fp)
		if err != nil {
			return nil, nil, err
		}
		if err := checkHostGroup(ctx, c.tx, code, m, group, fp, now); err != nil {
			return nil, nil, err
		}
		st, err := c.lineState(ctx, o.ID, code, m)
		if err != nil {
			return nil, nil, err
		}
		a, err := allocate(ctx, c.tx, st, o, act, group, pool, fp, now)
		if err != nil {
			return nil, nil, err
		}
		made = append(made, a)
	}
	return todo, made, nil
}

// license builds, records and returns the next license of an activation
// (act.Seq is its sequence) from what the activation holds, allocs (all of
// its allocations as they stand in tx), and with write set, writes the
// activation back.
func (d *Desk) license(ctx context.Context, c *txCache, act ledger.Activation, allocs []ledger.Allocation, write bool, fp machine.Fingerprint, nonce []byte, now int64) (response.License, error) {
	tx := c.tx
	var ents []response.Entitlement
	for _, a := range allocs {
		if a.Released != 0 {
			continue
		}
		p, m, err := c.product(ctx, a.Product)
		if err != nil {
			return response.License{}, err
		}
		o, err := c.order(ctx, a.Order)
		if err != nil {
			return response.License{}, err
		}
		lines, err := c.orderLines(ctx, a.Order)
		if err != nil {
			return response.License{}, err
		}
		var exp int64
		for _, l := range lines {
			if l.Product == a.Product {
				exp = l.Expires
			}
		}
		if m.TermDays > 0 {
			// The term runs from the activation, or for a seat that
			// belongs to its engineer from the seat's first activation
			// (B22): moving the medium does not renew it.
			start := a.Created
			if m.Owned {
				st, err := c.lineState(ctx, a.Order, a.Product, m)
				if err != nil {
					return response.License{}, err
				}
				own, ok, err := st.owner(ctx, a.Group)
				if err != nil {
					return response.License{}, err
				}
				if ok {
					start = own.FirstActivated
				}
			}
			if t := termEnd(m, start); exp == 0 || t < exp {
				exp = t
			}
		}
		e := response.Entitlement{Code: a.Product, Order: a.Order, Fulfillment: o.Fulfillment, Model: p.Model,
			Pool: a.Pool, Expires: exp, Seats: 1}
		if m.Count == "activation" {
			e.Seats = uint32((a.Units + m.perSeat() - 1) / m.perSeat())
		}
		if m.perSeat() > 1 || m.Measure != "" {
			e.Units = uint32(a.Units)
		}
		ents = append(ents, e)
	}
	if len(ents) == 0 {
		return response.License{}, fmt.Errorf("%w: activation %s holds no products", ErrConflict, act.ID)
	}
	sort.Slice(ents, func(i, j int) bool {
		if ents[i].Code != ents[j].Code {
			return ents[i].Code < ents[j].Code
		}
		return ents[i].Order < ents[j].Order
	})
	key := ed25519.PublicKey(act.InstallKey)
	// Time-ordered, like activation IDs, so that the licenses' unique
	// index on it grows at one end; 80 bits of it are random.
	cti := timeOrdered(16)
	l := response.License{
		Issuer:     d.name,
		Activation: act.ID,
		NotBefore:  now - int64(clockSkew/time.Second),
		IssuedAt:   now,
		ID:         cti,
		Confirm:    signing.NewConfirmation(key),
		Sequence:   uint64(act.Seq),
		Nonce:      nonce,
		Host:       act.Host,
		Machine:    fp,
		Products:   ents,
		Online:     act.Method == Online,
	}
	claims, err := signing.MarshalClaims(l)
	if err != nil {
		return response.License{}, err
	}
	if err := c.insertLicense(ctx, ledger.License{Activation: act.ID, Seq: act.Seq, ID: cti, Nonce: nonce, Claims: claims, Issued: now, Signer: c.signer}); err != nil {
		return response.License{}, err
	}
	if write {
		if err := tx.UpdateActivation(ctx, act); err != nil {
			return response.License{}, err
		}
	}
	return l, nil
}

// checkEmail applies A8: the purchaser's address, an approved one, or one
// that activated on the order before may activate; so may any address for
// the order's first activation. A further address needs approval.
func checkEmail(ctx context.Context, tx *ledger.Tx, o ledger.Order, email string) error {
	if err := validText("e-mail", email, 200, true); err != nil {
		return err
	}
	if email == o.Email {
		return nil
	}
	// Judged by the order's history, not by what is active now: once the
	// first server activated, any other address asks, even after every
	// server was released (FAQ 2.5, 2.6).
	used, anyUsed, err := tx.AddressUsed(ctx, o.ID, email)
	if err != nil {
		return err
	}
	if used || !anyUsed {
		return nil
	}
	e, err := tx.Email(ctx, o.ID, email)
	if err == nil && e.State == "approved" {
		return nil
	}
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	who := "the purchaser (" + o.Email + ")"
	if o.Email == "" {
		who = "the license desk"
	}
	return fmt.Errorf("%w: %s is not approved for order %s, which other servers use with another address; %s must approve it first (A8)", ErrPendingApproval, email, o.ID, who)
}

// checkMethod applies A11: one order is not used online and offline at once.
func checkMethod(ctx context.Context, tx *ledger.Tx, order, method string) error {
	methods, err := tx.OrderMethods(ctx, order)
	if err != nil {
		return err
	}
	for _, m := range methods {
		if m != method {
			return fmt.Errorf("%w: order %s is activated %s on other servers and cannot be mixed with %s activation; release those first (A11, A20)", ErrConflict, order, m, method)
		}
	}
	return nil
}

func keyID(pub []byte) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	return fmt.Sprint(keysID(pub))
}

func signerOf(vendor ed25519.PrivateKey) ed25519.PublicKey {
	return vendor.Public().(ed25519.PublicKey)
}

// releasedHow says how an activation was released, from the audit log.
func releasedHow(ctx context.Context, tx *ledger.Tx, act ledger.Activation) (string, error) {
	log, err := tx.AuditLog(ctx, "", act.ID)
	if err != nil {
		return "", err
	}
	how := "was released"
	for _, e := range log {
		switch e.Action {
		case "release.receipt":
			how = "was released with a release receipt"
		case "release.stale":
			how = "was released by the desk as stale (release-stale)"
		case "release.moved":
			how = "was moved to another machine (desk move)"
		case "release.online":
			how = "was released online"
		}
	}
	return how, nil
}
