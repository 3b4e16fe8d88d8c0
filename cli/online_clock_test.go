package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/portal"
)

const testPass = "online clock test"

// testWorld is a vendor key, a ledger with one order and, optionally, a
// portal with online activation in this process.
type testWorld struct {
	dir, pub, keyFile, db, portalURL string
}

func newTestWorld(t *testing.T, withPortal bool, now *time.Time) *testWorld {
	t.Helper()
	ctx := context.Background()
	w := &testWorld{dir: t.TempDir()}
	prefix := filepath.Join(w.dir, "vendor")
	if _, err := keys.GenerateFiles(prefix, []byte(testPass), keys.KDFParams{Time: 1, Memory: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	w.pub, w.keyFile, w.db = prefix+".pub", prefix+".key", filepath.Join(w.dir, "desk.db")
	db, err := ledger.Open(ctx, w.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, _ := desk.ParseCatalog(examples.Catalog())
	if _, _, err := desk.Init(ctx, db, cat); err != nil {
		t.Fatal(err)
	}
	opts := desk.Options{}
	if now != nil {
		opts.Now = func() time.Time { return *now }
	}
	d := desk.New(db, opts)
	if err := d.AddOrder(ctx, desk.OrderLine{Order: "ORD-1", Fulfillment: "FN-1", Email: "it@example.com", Product: "backup-server", Seats: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	if withPortal {
		vendor, err := keys.LoadPrivateKey(w.keyFile, []byte(testPass))
		if err != nil {
			t.Fatal(err)
		}
		backend := portal.NewLedgerDesk(d, vendor, "http://127.0.0.1")
		srv, err := portal.New(portal.Config{Desk: backend, Online: backend, SessionKey: bytes.Repeat([]byte{5}, 32), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		w.portalURL = ts.URL
	}
	return w
}

// testEnv is a command line with its own clock, environment and dialer.
func testEnv(t *testing.T, now *time.Time, dials *atomic.Int64) *env {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rack01")
	if err := os.CopyFS(root, os.DirFS(mustAbs("../examples/machines/rack01"))); err != nil {
		t.Fatal(err)
	}
	// A proxy in the environment: loopback portals bypass it, and an
	// offline server must not even try it.
	vars := map[string]string{"OAT_SYSROOT": root, "OAT_PASSPHRASE": testPass, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
	e := &env{stdin: strings.NewReader(""), getenv: func(k string) string { return vars[k] }}
	if now != nil {
		e.now = func() time.Time { return *now }
	}
	if dials != nil {
		d := &net.Dialer{}
		e.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
	}
	return e
}

func (e *env) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.try(args...)
	if err != nil {
		t.Fatalf("oat %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (e *env) try(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	e.stdout, e.stderr = &out, &errOut
	if code := e.run(append([]string{"oat"}, args...)); code != 0 {
		return out.String(), errors.New(strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// TestRuleA5_StatusEveryBoundary walks an online activation out of touch
// through every boundary of the A5 timeline with an injected clock, as
// `oat status --json` reports it, then reconnects.
func TestRuleA5_StatusEveryBoundary(t *testing.T) {
	// Not parallel: it runs oat in this process, and urfave/cli writes its
	// package-level help flag on every parse, so two in-process runs at once
	// race (a real oat process runs one command).
	t0 := time.Now().Truncate(time.Second)
	now := t0
	w := newTestWorld(t, true, &now)
	e := testEnv(t, &now, nil)
	store := filepath.Join(t.TempDir(), "store")
	settings := t.TempDir()
	e.mustRun(t, "init", "--store", store, "--trust", w.pub)
	e.mustRun(t, "products", "add", "--store", store, "--code", "backup-server", "--settings-dir", settings)
	e.mustRun(t, "activate", "--store", store, "--portal", w.portalURL, "--order", "ORD-1", "--fulfillment", "FN-1", "--email", "it@example.com")

	day := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(24*time.Hour))) }
	date := func(d float64) string { return day(d).UTC().Format("2006-01-02") }
	lost := "connection to the license server lost"
	expires := "license expires on " + date(14) + ": no connection to the license server since " + date(0)
	grace := "license expired on " + date(14) + ": to keep using the product, reconnect to the license server by " + date(44) + " or contact the license desk to renew the license"
	suspended := "license suspended: no connection to the license server since " + date(0) + "; it is restored as soon as the connection is"
	const sec = 1.0 / 86400
	for _, tt := range []struct {
		at           float64
		state, a5    string
		warning      string
		licensedByA5 bool
		product      string // the product check's state, in oat status and in oat check
	}{
		{0, "active", "connected", "", true, "licensed"},
		{2 - sec, "active", "connected", "", true, "licensed"}, // one daily contact missed is tolerated
		{2, "active", "disconnected", lost, true, "licensed"},
		{5 - sec, "active", "disconnected", lost, true, "licensed"},
		{5, "active", "disconnected", expires, true, "licensed"},
		{14 - sec, "active", "disconnected", expires, true, "licensed"},
		{14, "grace", "grace", grace, true, "grace"},
		{44 - sec, "grace", "grace", grace, true, "grace"},
		{44, "suspended", "suspended", suspended, false, "expired"},
		{60, "suspended", "suspended", suspended, false, "expired"},
		{20, "suspended", "suspended", suspended, false, "expired"}, // the clock set back: the high-water mark holds
	} {
		now = day(tt.at)
		var st struct {
			State    string   `json:"state"`
			Warnings []string `json:"warnings"`
			Online   struct {
				State    string `json:"state"`
				Licensed bool   `json:"licensed"`
				Warning  string `json:"warning"`
			} `json:"online"`
			Products []struct {
				State    string `json:"state"`
				Licensed bool   `json:"licensed"`
			} `json:"products"`
		}
		if err := json.Unmarshal([]byte(e.mustRun(t, "status", "--store", store, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.State != tt.state || st.Online.State != tt.a5 || st.Online.Warning != tt.warning || st.Online.Licensed != tt.licensedByA5 {
			t.Errorf("day %.5f: state %q, A5 %q licensed=%v %q\nwant %q, %q licensed=%v %q", tt.at, st.State, st.Online.State, st.Online.Licensed, st.Online.Warning,
				tt.state, tt.a5, tt.licensedByA5, tt.warning)
		}
		if tt.warning != "" && (len(st.Warnings) == 0 || st.Warnings[len(st.Warnings)-1] != tt.warning) {
			t.Errorf("day %.5f: warnings %q lack the A5 warning", tt.at, st.Warnings)
		}
		if len(st.Products) != 1 || st.Products[0].State != tt.product || st.Products[0].Licensed != tt.licensedByA5 {
			t.Errorf("day %.5f: oat status's product check %+v, want %s", tt.at, st.Products, tt.product)
		}
		// The product's own check judges the same from the vendor-signed
		// files in its settings directory.
		out, err := e.try("check", "--settings-dir", settings, "--product", "backup-server", "--trust", w.pub, "--json")
		var v struct {
			State    string   `json:"state"`
			Licensed bool     `json:"licensed"`
			Warnings []string `json:"warnings"`
		}
		if jerr := json.Unmarshal([]byte(out), &v); jerr != nil || v.State != tt.product || v.Licensed != tt.licensedByA5 || (err == nil) != tt.licensedByA5 {
			t.Errorf("day %.5f: oat check: %s %v, want %s", tt.at, out, err, tt.product)
		}
		if tt.warning != "" && !slices.Contains(v.Warnings, tt.warning) {
			t.Errorf("day %.5f: oat check warnings %q lack %q", tt.at, v.Warnings, tt.warning)
		}
	}
	text := e.mustRun(t, "status", "--store", store)
	if !strings.HasPrefix(text, "SUSPENDED: ") || !strings.Contains(text, "warning: "+suspended) {
		t.Errorf("oat status while suspended:\n%s", text)
	}

	// Reconnecting restores the license at once.
	now = day(61)
	e.mustRun(t, "refresh", "--store", store)
	out := e.mustRun(t, "status", "--store", store, "--json")
	if !strings.Contains(out, `"state": "active"`) || !strings.Contains(out, `"state": "connected"`) || strings.Contains(out, "license suspended") {
		t.Errorf("after reconnecting on day 61:\n%s", out)
	}
	if out, err := e.try("check", "--settings-dir", settings, "--product", "backup-server", "--trust", w.pub); err != nil || !strings.HasPrefix(out, "LICENSED: backup-server") {
		t.Errorf("oat check after reconnecting on day 61: %s %v", out, err)
	}
	// A product registered after the refresh gets the acknowledgement too,
	// and judges from it rather than from the license of day 0.
	later := t.TempDir()
	e.mustRun(t, "products", "add", "--store", store, "--code", "replica-server", "--settings-dir", later)
	if _, err := os.Stat(filepath.Join(later, "oat-checkin.oat")); err != nil {
		t.Errorf("a product added after the refresh has no acknowledgement: %v", err)
	}
}

// TestOfflineServerNeverDials: a server activated offline, through its
// whole life (request, install, status, refresh, deactivate), makes no
// network call, even with a proxy in its environment.
func TestOfflineServerNeverDials(t *testing.T) {
	// Not parallel: it runs oat in this process, and urfave/cli writes its
	// package-level help flag on every parse, so two in-process runs at once
	// race (a real oat process runs one command).
	w := newTestWorld(t, false, nil)
	var dials atomic.Int64
	e := testEnv(t, nil, &dials)
	store := filepath.Join(t.TempDir(), "store")
	dir := t.TempDir()
	req, lic, rel := filepath.Join(dir, "req.oat"), filepath.Join(dir, "lic.oat"), filepath.Join(dir, "rel.oat")
	e.mustRun(t, "init", "--store", store, "--trust", w.pub)
	e.mustRun(t, "products", "add", "--store", store, "--code", "backup-server", "--settings-dir", t.TempDir())
	e.mustRun(t, "request", "--store", store, "--order", "ORD-1", "--fulfillment", "FN-1", "--email", "it@example.com", "--out", req)
	e.mustRun(t, "desk", "issue", "--db", w.db, "--key", w.keyFile, "--out", lic, req)
	e.mustRun(t, "install", "--store", store, lic)
	e.mustRun(t, "status", "--store", store)
	e.mustRun(t, "status", "--store", store, "--json")
	if _, err := e.try("refresh", "--store", store); err == nil || !strings.Contains(err.Error(), "was not activated online") {
		t.Fatalf("refresh of an offline activation: %v", err)
	}
	if _, err := e.try("deactivate", "--store", store, "--portal", "https://licenses.example.com"); err == nil || !strings.Contains(err.Error(), "activated offline") {
		t.Fatalf("online release of an offline activation: %v", err)
	}
	e.mustRun(t, "deactivate", "--store", store, "--out", rel)
	if n := dials.Load(); n != 0 {
		t.Fatalf("an offline server made %d network connection(s)", n)
	}
	// The counter counts: the same dialer sees an online call.
	if _, err := e.try("refresh", "--store", store); err == nil {
		t.Fatal("refresh with no license")
	}
	w2 := newTestWorld(t, true, nil)
	e2 := testEnv(t, nil, &dials)
	store2 := filepath.Join(t.TempDir(), "store")
	e2.mustRun(t, "init", "--store", store2, "--trust", w2.pub)
	e2.mustRun(t, "products", "add", "--store", store2, "--code", "backup-server", "--settings-dir", t.TempDir())
	e2.mustRun(t, "activate", "--store", store2, "--portal", w2.portalURL, "--order", "ORD-1", "--fulfillment", "FN-1", "--email", "it@example.com")
	if dials.Load() == 0 {
		t.Fatal("the dial counter missed an online activation")
	}
}
