package portal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// syncBuffer is a log sink the race detector accepts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testPortal struct {
	*httptest.Server
	desk  *fakeDesk
	staff *fakeStaff
	log   *syncBuffer
	srv   *Server
}

func newTestPortal(t *testing.T, mod func(*Config)) *testPortal {
	t.Helper()
	d := newFakeDesk(t)
	staff := newFakeStaff(t)
	logs := &syncBuffer{}
	cfg := Config{
		Desk: d, SessionKey: bytes.Repeat([]byte{7}, 32), Staff: staff,
		RatePerMinute: 6000, Burst: 1000,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &testPortal{Server: ts, desk: d, staff: staff, log: logs, srv: s}
}

func (p *testPortal) post(t *testing.T, path, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", p.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, out
}

func wantAPIError(t *testing.T, res *http.Response, body []byte, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error content type %q", ct)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error != code || e.Message == "" {
		t.Fatalf("error %+v, want code %q with a message", e, code)
	}
}

func TestActivation(t *testing.T) {
	p := newTestPortal(t, nil)
	req, inst := newRequest(t, "ORD-1", "db01.example")
	res, lic := p.post(t, "/v1/activations", "application/octet-stream", req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, lic)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/x-pem-file" {
		t.Errorf("content type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename=db01.example.license.oat` {
		t.Errorf("content disposition %q", cd)
	}
	l, err := response.Parse(lic, keys.NewTrustSet(p.desk.vendor.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.Confirm.Key.X, inst.Public().(ed25519.PublicKey)) {
		t.Error("license not bound to the installation")
	}
	// Replays: the same request, raw instead of armored, and as a
	// multipart form, all get the very same license and no second seat.
	m, _ := signing.Parse(req)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "req.oat")
	fw.Write(req)
	mw.Close()
	for _, c := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", req}, {"", m.Raw()}, {mw.FormDataContentType(), mp.Bytes()}} {
		res, again := p.post(t, "/v1/activations", c.ctype, c.body)
		if res.StatusCode != 200 || !bytes.Equal(again, lic) {
			t.Fatalf("replay as %q: status %d, same=%v", c.ctype, res.StatusCode, bytes.Equal(again, lic))
		}
	}
	if p.desk.issues != 1 {
		t.Errorf("desk issued %d times", p.desk.issues)
	}
}

func TestActivationErrors(t *testing.T) {
	p := newTestPortal(t, nil)
	good, inst := newRequest(t, "ORD-1", "h")
	licFile, _ := response.Seal(response.License{Activation: "a", Sequence: 1, Confirm: signing.NewConfirmation(inst.Public().(ed25519.PublicKey))}, p.desk.vendor)
	tampered := bytes.Replace(good, []byte("BEGIN OAT REQUEST-----\n"), []byte("BEGIN OAT REQUEST-----\nAAAA"), 1)
	noSeats, _ := newRequest(t, "NOSEATS", "h")
	pending, _ := newRequest(t, "PENDING", "h")
	unknown, _ := newRequest(t, "UNKNOWN", "h")
	broken, _ := newRequest(t, "BROKEN", "h")
	for _, c := range []struct {
		name, ctype string
		body        []byte
		status      int
		code        string
	}{
		{"garbage", "", []byte("hello"), 400, "bad_file"},
		{"empty", "", nil, 400, "bad_file"},
		{"tampered", "", tampered, 400, "bad_file"},
		{"truncated", "", good[:len(good)-30], 400, "bad_file"},
		{"license instead of request", "", licFile, 400, "wrong_kind"},
		{"json body", "application/json", good, 415, "unsupported_media_type"},
		{"form body", "application/x-www-form-urlencoded", good, 415, "unsupported_media_type"},
		{"not entitled", "", unknown, 403, "not_entitled"},
		{"no seats", "", noSeats, 409, "no_seats"},
		{"pending approval", "", pending, 409, "pending_approval"},
		{"oversize", "", bytes.Repeat([]byte("A"), maxUpload+1), 413, "too_large"},
		{"over the file cap", "", append(bytes.Repeat([]byte(" "), signing.MaxFileSize+1), good...), 413, "too_large"},
		{"desk failure", "", broken, 500, "internal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, body := p.post(t, "/v1/activations", c.ctype, c.body)
			wantAPIError(t, res, body, c.status, c.code)
			if strings.Contains(string(body), "hunter2") {
				t.Error("internal error detail leaked to the client")
			}
		})
	}
	if !strings.Contains(p.log.String(), "hunter2") {
		t.Error("internal error not logged")
	}
}

// An oversize body sent without a Content-Length (chunked) is cut off
// while it is read.
func TestOversizeChunked(t *testing.T) {
	p := newTestPortal(t, nil)
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("A"), 4096)
		for i := 0; i < 40; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", p.URL+"/v1/activations", pr)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pr.Close()
	wantAPIError(t, res, body, 413, "too_large")
}

func TestPanicIsPlain500(t *testing.T) {
	p := newTestPortal(t, nil)
	req, _ := newRequest(t, "PANIC", "h")
	res, body := p.post(t, "/v1/activations", "", req)
	wantAPIError(t, res, body, 500, "internal")
	if strings.Contains(string(body), "secret line") || strings.Contains(string(body), "goroutine") {
		t.Errorf("panic leaked: %s", body)
	}
	if !strings.Contains(p.log.String(), "desk exploded") {
		t.Error("panic not logged")
	}
}

func TestRateLimit(t *testing.T) {
	p := newTestPortal(t, func(c *Config) { c.RatePerMinute = 1; c.Burst = 3 })
	req, _ := newRequest(t, "ORD-1", "h")
	for i := 0; i < 3; i++ {
		if res, body := p.post(t, "/v1/activations", "", req); res.StatusCode != 200 {
			t.Fatalf("call %d: %d %s", i, res.StatusCode, body)
		}
	}
	res, body := p.post(t, "/v1/activations", "", req)
	wantAPIError(t, res, body, 429, "rate_limited")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Static pages are not limited.
	if res, err := http.Get(p.URL + "/"); err != nil || res.StatusCode != 200 {
		t.Fatalf("page after limit: %v %v", res, err)
	}
}

func TestLimiterRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(1, 2, func() time.Time { return now })
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("a"); ok != want {
			t.Fatalf("call %d: %v", i, ok)
		}
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("other client limited")
	}
	now = now.Add(1100 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("no refill")
	}
	now = now.Add(5 * time.Minute)
	l.allow("c")
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets kept after sweep", len(l.buckets))
	}
}

func TestRelease(t *testing.T) {
	p := newTestPortal(t, nil)
	_, inst, _ := ed25519.GenerateKey(nil)
	rec, err := release.Seal(release.Receipt{Activation: "act-9", IssuedAt: time.Now().Unix(), ID: []byte("0123456789abcdef"), Sequence: 2, License: []byte("x"), Host: "old01"}, inst)
	if err != nil {
		t.Fatal(err)
	}
	res, body := p.post(t, "/v1/releases", "", rec)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var r Released
	if err := json.Unmarshal(body, &r); err != nil || r.Activation != "act-9" || r.Host != "old01" {
		t.Fatalf("%s %v", body, err)
	}
	res, body = p.post(t, "/v1/releases", "", rec)
	wantAPIError(t, res, body, 409, "conflict")
	req, _ := newRequest(t, "ORD-1", "h")
	res, body = p.post(t, "/v1/releases", "", req)
	wantAPIError(t, res, body, 400, "wrong_kind")
}

func TestPreview(t *testing.T) {
	p := newTestPortal(t, nil)
	req, _ := newRequest(t, "ORD-1", "db01")
	res, body := p.post(t, "/v1/preview", "", req)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var pv Preview
	json.Unmarshal(body, &pv)
	if pv.Kind != "request" || pv.Order != "ORD-1" || pv.Host != "db01" || pv.Class != "server" || len(pv.Products) != 1 {
		t.Fatalf("%+v", pv)
	}
	if p.desk.issues != 0 {
		t.Fatal("preview issued a license")
	}
	res, body = p.post(t, "/v1/preview", "", []byte("-----BEGIN OAT LICENSE-----\nAAAA\n-----END OAT LICENSE-----\n"))
	if res.StatusCode != 400 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}

func TestStaffAPI(t *testing.T) {
	p := newTestPortal(t, nil)
	res, err := http.Get(p.URL + "/v1/orders/ORD-1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	wantAPIError(t, res, body, 401, "unauthorized")
	get := func(path, password string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", p.URL+path, nil)
		req.SetBasicAuth("Hanako", password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, body = get("/v1/orders/ORD-1", "wrong password")
	wantAPIError(t, res, body, 401, "unauthorized")
	res, body = get("/v1/orders/ORD-1", testPassword)
	var o Order
	if res.StatusCode != 200 || json.Unmarshal(body, &o) != nil || o.ID != "ORD-1" || o.Products[0].Used != 2 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	res, body = get("/v1/orders/NOPE", testPassword)
	wantAPIError(t, res, body, 404, "not_found")
	res, body = get("/v1/nothing", testPassword)
	wantAPIError(t, res, body, 404, "not_found")
}

func TestSecurityHeadersAndLog(t *testing.T) {
	p := newTestPortal(t, nil)
	res, err := http.Get(p.URL + "/approve?t=SECRET-TOKEN-IN-QUERY")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if res.Header.Get(h) == "" {
			t.Errorf("no %s", h)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %s", csp)
	}
	logs := p.log.String()
	if strings.Contains(logs, "SECRET-TOKEN") {
		t.Error("the access log holds a link token")
	}
	if !strings.Contains(logs, `"path":"/approve"`) {
		t.Errorf("no access log line: %s", logs)
	}
}

// A cross-site page cannot post into the portal from a victim's browser.
func TestCrossOrigin(t *testing.T) {
	p := newTestPortal(t, nil)
	req, _ := http.NewRequest("POST", p.URL+"/staff/approvals/x", strings.NewReader("decision=approve"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("status %d", res.StatusCode)
	}
}

func TestAcceptLanguage(t *testing.T) {
	c := catalog{"en": {}, "ja": {}}
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"ja", "ja"},
		{"ja-JP,ja;q=0.9,en-US;q=0.8", "ja"},
		{"en-US,en;q=0.9,ja;q=0.8", "en"},
		{"fr-FR, ja;q=0.5", "ja"},
		{"de, fr", "en"},
		{"en;q=0.1, ja;q=0.7", "ja"},
		{"ja;q=0", "en"},
	} {
		if got := acceptLanguage(tc.header, c); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestLicenseFileName(t *testing.T) {
	for in, want := range map[string]string{
		"db01":             "db01.license.oat",
		"../../etc/passwd": "etc_passwd.license.oat",
		"サーバー1":            "1.license.oat",
		"":                 "license.oat",
		"a\"b;c":           "a_b_c.license.oat",
	} {
		if got := licenseFileName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
