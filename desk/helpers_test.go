package desk_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
)

var ctx = context.Background()

// fixture is a desk on a fresh ledger with the example catalog.
type fixture struct {
	t      *testing.T
	dsn    string
	db     *ledger.DB
	desk   *desk.Desk
	vendor ed25519.PrivateKey
	trust  *keys.TrustSet
	now    time.Time
}

// eachBackend runs f on a fresh ledger on every database, the databases
// in parallel: each has its own file or schema.
func eachBackend(t *testing.T, f func(t *testing.T, fx *fixture)) {
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, newFixture(t, b.DSN))
		})
	}
}

func newFixture(t *testing.T, dsn string) *fixture {
	t.Helper()
	db, err := ledger.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever a test did, the counters the desk keeps must say what a
		// scan of the allocations says.
		if err := db.VerifyCounters(ctx); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	cat, err := desk.ParseCatalog(examples.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := desk.Init(ctx, db, cat); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	fx := &fixture{t: t, dsn: dsn, db: db, vendor: priv, trust: keys.NewTrustSet(pub),
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fx.desk = desk.New(db, desk.Options{Name: "test desk", Now: func() time.Time { return fx.now }})
	return fx
}

func (fx *fixture) order(order, fn, email, product string, seats int64, expires string) {
	fx.t.Helper()
	err := fx.desk.AddOrder(ctx, desk.OrderLine{Order: order, Fulfillment: fn, Email: email, Product: product, Seats: seats, Expires: expires}, "test")
	if err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) dump() string {
	fx.t.Helper()
	s, err := fx.db.Dump(ctx)
	if err != nil {
		fx.t.Fatal(err)
	}
	return s
}

func (fx *fixture) issue(name string, req []byte, opt desk.IssueOptions) (*desk.Issued, error) {
	return fx.desk.IssueOne(ctx, fx.vendor, name, req, opt)
}

func (fx *fixture) mustIssue(req []byte, opt desk.IssueOptions) *desk.Issued {
	fx.t.Helper()
	is, err := fx.issue("request.oat", req, opt)
	if err != nil {
		fx.t.Fatal(err)
	}
	if _, err := response.Parse(is.File, fx.trust); err != nil {
		fx.t.Fatalf("issued license does not verify: %v", err)
	}
	return is
}

func (fx *fixture) show(order string) *desk.OrderView {
	fx.t.Helper()
	v, err := fx.desk.Show(ctx, order)
	if err != nil {
		fx.t.Fatal(err)
	}
	return v
}

func (fx *fixture) used(order, product string) int64 {
	fx.t.Helper()
	for _, l := range fx.show(order).Products {
		if l.Code == product {
			return l.Used
		}
	}
	fx.t.Fatalf("%s not on order %s", product, order)
	return 0
}

// installation is a server installation: its key and its machine.
type installation struct {
	priv ed25519.PrivateKey
	fp   machine.Fingerprint
	host string
}

func digest() []byte {
	b := make([]byte, machine.DigestSize)
	rand.Read(b)
	return b
}

func newInstallation(host string, edit ...func(*machine.Fingerprint)) *installation {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	fp := machine.Fingerprint{Salt: digest(), UUID: digest(), Serial: digest(), GUID: digest(), MACs: [][]byte{digest()},
		OS: "linux", Class: "server"}
	for _, e := range edit {
		e(&fp)
	}
	return &installation{priv: priv, fp: fp, host: host}
}

func vm(hyper string) func(*machine.Fingerprint) {
	return func(f *machine.Fingerprint) { f.Hyper = hyper }
}

func (in *installation) request(t *testing.T, order, fn, email string, products ...string) []byte {
	t.Helper()
	nonce := make([]byte, request.NonceSize)
	rand.Read(nonce)
	data, err := request.Seal(request.Request{IssuedAt: time.Now().Unix(), Nonce: nonce, Order: order, Fulfillment: fn,
		Email: email, Products: products, Host: in.host, Machine: in.fp}, in.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (in *installation) receipt(t *testing.T, activation string, seq uint64) []byte {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	data, err := release.Seal(release.Receipt{Activation: activation, IssuedAt: time.Now().Unix(), ID: id, Sequence: seq,
		License: []byte("x"), Host: in.host}, in.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func wantErr(t *testing.T, err error, sentinel error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("error\n got: %s\nwant: %s", err, msg)
	}
}

func parseRequest(data []byte) (*request.Request, ed25519.PublicKey, error) {
	return request.Parse(data)
}
