package portal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/portal"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
)

// onlineWorld is a portal with online activation in front of a real desk
// on SQLite with the example orders.
type onlineWorld struct {
	url    string
	vendor ed25519.PrivateKey
	trust  *keys.TrustSet
}

func newOnlineWorld(t *testing.T, mod func(*portal.Config)) *onlineWorld {
	t.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, _ := desk.ParseCatalog(examples.Catalog())
	if _, _, err := desk.Init(ctx, db, cat); err != nil {
		t.Fatal(err)
	}
	d := desk.New(db, desk.Options{})
	orders, _ := desk.ParseOrders(examples.Orders())
	if err := d.ImportOrders(ctx, orders, "test"); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	backend := portal.NewLedgerDesk(d, priv, "http://127.0.0.1")
	cfg := portal.Config{Desk: backend, Online: backend, SessionKey: bytes.Repeat([]byte{3}, 32),
		RatePerMinute: 6000, Burst: 1000, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := portal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &onlineWorld{url: ts.URL, vendor: priv, trust: keys.NewTrustSet(pub)}
}

func (w *onlineWorld) post(t *testing.T, path string, body []byte) (int, []byte) {
	t.Helper()
	res, err := http.Post(w.url+path, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func wantCode(t *testing.T, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct{ Error, Message string }
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error != wantCode || e.Message == "" {
		t.Fatalf("got %d %s, want %d %s", status, body, wantStatus, wantCode)
	}
}

type onlineServer struct {
	priv ed25519.PrivateKey
	fp   machine.Fingerprint
}

func newOnlineServer() *onlineServer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := func() []byte { b := make([]byte, machine.DigestSize); rand.Read(b); return b }
	return &onlineServer{priv: priv, fp: machine.Fingerprint{Salt: d(), UUID: d(), Serial: d(), OS: "linux", Class: "server"}}
}

func (s *onlineServer) request(t *testing.T) []byte {
	return s.requestWith(t, "FN-1001-A")
}

// requestWith is a request for order ORD-1001 giving fulfillment number fn.
func (s *onlineServer) requestWith(t *testing.T, fn string) []byte {
	nonce := make([]byte, request.NonceSize)
	rand.Read(nonce)
	data, err := request.Seal(request.Request{IssuedAt: time.Now().Unix(), Nonce: nonce, Order: "ORD-1001", Fulfillment: fn,
		Email: "it@example.com", Products: []string{"backup-server"}, Host: "srv", Machine: s.fp}, s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (s *onlineServer) checkIn(t *testing.T, activation string) ([]byte, []byte) {
	nonce := make([]byte, checkin.NonceSize)
	rand.Read(nonce)
	data, err := checkin.SealCheckIn(checkin.CheckIn{Activation: activation, IssuedAt: time.Now().Unix(), Nonce: nonce, Sequence: 1}, s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data, nonce
}

func (s *onlineServer) receipt(t *testing.T, activation string, online bool) ([]byte, []byte) {
	id := make([]byte, 16)
	rand.Read(id)
	data, err := release.Seal(release.Receipt{Activation: activation, IssuedAt: time.Now().Unix(), ID: id, Sequence: 1,
		License: []byte("x"), Host: "srv", Online: online}, s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data, id
}

// TestOnlineAPI: the online endpoints take signed files and answer with
// signed files, refuse the other method's files (FAQ 3.11) and anything
// malformed with a JSON error.
func TestOnlineAPI(t *testing.T) {
	w := newOnlineWorld(t, nil)
	s := newOnlineServer()
	status, body := w.post(t, "/v1/online/activations", s.request(t))
	if status != 200 {
		t.Fatalf("activation: %d %s", status, body)
	}
	lic, err := response.Parse(body, w.trust)
	if err != nil {
		t.Fatal(err)
	}

	ci, nonce := s.checkIn(t, lic.Activation)
	status, body = w.post(t, "/v1/online/checkins", ci)
	if status != 200 {
		t.Fatalf("check-in: %d %s", status, body)
	}
	a, err := checkin.ParseAck(body, w.trust)
	if err != nil || a.Answers(lic.Activation, nonce, checkin.StateActive) != nil {
		t.Fatalf("acknowledgement: %v %+v", err, a)
	}

	// The wrong file, a damaged one, an oversized one.
	status, body = w.post(t, "/v1/online/checkins", s.request(t))
	wantCode(t, status, body, 400, "wrong_kind")
	status, body = w.post(t, "/v1/online/checkins", []byte("-----BEGIN OAT CHECKIN-----\nnope\n-----END OAT CHECKIN-----\n"))
	wantCode(t, status, body, 400, "bad_file")
	status, body = w.post(t, "/v1/online/checkins", bytes.Repeat([]byte("a"), 80<<10))
	wantCode(t, status, body, 413, "too_large")
	other := newOnlineServer()
	forged, _ := other.checkIn(t, lic.Activation)
	status, body = w.post(t, "/v1/online/checkins", forged)
	wantCode(t, status, body, 400, "bad_file")

	// An offline receipt for the online activation: refused on both paths.
	off, _ := s.receipt(t, lic.Activation, false)
	status, body = w.post(t, "/v1/releases", off)
	wantCode(t, status, body, 409, "wrong_method")
	status, body = w.post(t, "/v1/online/releases", off)
	wantCode(t, status, body, 409, "wrong_method")
	on, id := s.receipt(t, lic.Activation, true)
	status, body = w.post(t, "/v1/releases", on)
	wantCode(t, status, body, 409, "wrong_method")

	for range 2 { // the answer lost once: the same receipt again
		status, body = w.post(t, "/v1/online/releases", on)
		if status != 200 {
			t.Fatalf("online release: %d %s", status, body)
		}
		a, err = checkin.ParseAck(body, w.trust)
		if err != nil || a.Answers(lic.Activation, id, checkin.StateReleased) != nil {
			t.Fatalf("release acknowledgement: %v %+v", err, a)
		}
	}
	ci, _ = s.checkIn(t, lic.Activation)
	status, body = w.post(t, "/v1/online/checkins", ci)
	wantCode(t, status, body, 409, "conflict")
}

// TestOnlineRateLimitPerInstallation: one installation is limited however
// many addresses it would come from; another installation is not.
func TestOnlineRateLimitPerInstallation(t *testing.T) {
	w := newOnlineWorld(t, func(c *portal.Config) { c.InstallationRatePerMinute = 1; c.InstallationBurst = 2 })
	s := newOnlineServer()
	status, body := w.post(t, "/v1/online/activations", s.request(t))
	if status != 200 {
		t.Fatalf("activation: %d %s", status, body)
	}
	lic, _ := response.Parse(body, w.trust)
	ci, _ := s.checkIn(t, lic.Activation)
	if status, body = w.post(t, "/v1/online/checkins", ci); status != 200 {
		t.Fatalf("check-in: %d %s", status, body)
	}
	ci, _ = s.checkIn(t, lic.Activation)
	status, body = w.post(t, "/v1/online/checkins", ci)
	wantCode(t, status, body, 429, "rate_limited")

	other := newOnlineServer()
	if status, body = w.post(t, "/v1/online/activations", other.request(t)); status != 200 {
		t.Fatalf("another installation: %d %s", status, body)
	}
}

// TestOnlineNotOffered: a portal without an online desk says so.
func TestOnlineNotOffered(t *testing.T) {
	w := newOnlineWorld(t, func(c *portal.Config) { c.Online = nil })
	status, body := w.post(t, "/v1/online/checkins", []byte("x"))
	wantCode(t, status, body, 404, "not_found")
}

// TestOnlineGuessesAreLockedOut: oat activate guesses fulfillment numbers
// under the same lockout as an upload (A1): after five wrong ones from one
// address, each from another installation, even the right one is refused.
func TestOnlineGuessesAreLockedOut(t *testing.T) {
	w := newOnlineWorld(t, nil)
	for range 5 {
		status, body := w.post(t, "/v1/online/activations", newOnlineServer().requestWith(t, "FN-WRONG"))
		wantCode(t, status, body, http.StatusForbidden, "not_entitled")
	}
	status, body := w.post(t, "/v1/online/activations", newOnlineServer().request(t))
	wantCode(t, status, body, http.StatusTooManyRequests, "locked_out")
}
