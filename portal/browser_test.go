package portal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/oat-toolkit/oat/cli"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/portal"
)

// staffPassword is the password of Hanako, the desk staff member of
// every test world.
const staffPassword = "browser-test-password-0123"

// One Chromium for the whole package run: starting it is the slow part.
var chrome struct {
	once    sync.Once
	ctx     context.Context // the browser; tests open their own contexts in it
	err     error
	cancels []context.CancelFunc
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(chrome.cancels) - 1; i >= 0; i-- {
		chrome.cancels[i]()
	}
	os.Exit(code)
}

// chromium returns a fresh browser context (its own cookies and
// downloads) in the shared headless Chromium, or skips the test when there
// is no Chromium here (and fails under CI, which installs one).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("OAT_TEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium at %s (set OAT_TEST_CHROMIUM): the browser tests must run in CI", path)
		}
		t.Skipf("no Chromium at %s (set OAT_TEST_CHROMIUM); skipping the browser test", path)
	}
	chrome.once.Do(func() {
		dir, err := os.MkdirTemp("", "oat-chromium-")
		if err != nil {
			chrome.err = err
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(1100, 900),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		chrome.cancels = append(chrome.cancels, func() { os.RemoveAll(dir) }, cancelAlloc, cancelCtx)
		chrome.err = chromedp.Do(ctx)
		chrome.ctx = ctx
	})
	if chrome.err != nil {
		t.Fatalf("start Chromium %s: %v", path, chrome.err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// world is a license desk on SQLite with the example catalog and orders,
// a portal in front of it, and the vendor key that signs.
type world struct {
	dir    string
	desk   *desk.Desk
	db     *ledger.DB
	portal *httptest.Server
	vendor ed25519.PrivateKey
	pub    string // VENDOR.pub path
	now    time.Time
	dsn    string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, filepath.Join(t.TempDir(), "ledger.db"))
}

// sessionKey is what every portal of a test world signs sessions with, as
// portals of one desk derive it from the same vendor key.
var sessionKey = bytes.Repeat([]byte{9}, 32)

// newWorldOn is newWorld on the ledger at dsn.
func newWorldOn(t *testing.T, dsn string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{dir: t.TempDir(), now: time.Now(), dsn: dsn}
	pass := []byte("vendor pass")
	prefix := filepath.Join(w.dir, "vendor")
	if _, err := keys.GenerateFiles(prefix, pass, keys.KDFParams{Time: 1, Memory: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.vendor, err = keys.LoadPrivateKey(prefix+".key", pass); err != nil {
		t.Fatal(err)
	}
	w.pub = prefix + ".pub"
	if w.db, err = ledger.Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })
	cat, err := desk.ParseCatalog(examples.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := desk.Init(ctx, w.db, cat); err != nil {
		t.Fatal(err)
	}
	w.desk = desk.New(w.db, desk.Options{Now: func() time.Time { return w.now }})
	orders, err := desk.ParseOrders(examples.Orders())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.desk.ImportOrders(ctx, orders, "test"); err != nil {
		t.Fatal(err)
	}
	hash, err := portal.HashPassword([]byte(staffPassword), portal.PasswordParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.desk.AddStaff(ctx, "Hanako", hash, "test"); err != nil {
		t.Fatal(err)
	}
	w.portal = w.serve(t, w.desk)
	return w
}

// serve starts a portal in front of d.
func (w *world) serve(t *testing.T, d *desk.Desk) *httptest.Server {
	t.Helper()
	return w.serveWith(t, d, nil)
}

// serveWith starts a portal in front of d with its configuration changed
// by mod.
func (w *world) serveWith(t *testing.T, d *desk.Desk, mod func(*portal.Config)) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	var logs syncWriter
	backend := portal.NewLedgerDesk(d, w.vendor, base)
	cfg := portal.Config{Desk: backend, Online: backend, SessionKey: sessionKey, Staff: backend,
		BaseURL: base, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := portal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// anotherPortal starts a second portal on the same ledger, with its own
// connection and desk, as a second process behind a load balancer.
func (w *world) anotherPortal(t *testing.T) *httptest.Server {
	t.Helper()
	db, err := ledger.Open(context.Background(), w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return w.serve(t, desk.New(db, desk.Options{Now: func() time.Time { return w.now }}))
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// oat runs the oat command line as typed, on the machine sysroot.
func oat(t *testing.T, sysroot string, args ...string) string {
	t.Helper()
	t.Setenv("OAT_SYSROOT", sysroot)
	t.Setenv("OAT_PASSPHRASE", "installation pass")
	var out, errb bytes.Buffer
	if code := cli.Main(append([]string{"oat"}, args...), strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("oat %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// server makes an isolated server: a copy of an example machine's system
// root and an installation store on it that trusts the vendor.
func (w *world) server(t *testing.T, machine string) (sysroot, store string) {
	t.Helper()
	sysroot = filepath.Join(t.TempDir(), machine)
	if err := os.CopyFS(sysroot, os.DirFS(filepath.Join("..", "examples", "machines", machine))); err != nil {
		t.Fatal(err)
	}
	store = filepath.Join(t.TempDir(), "store")
	oat(t, sysroot, "init", "--store", store, "--trust", w.pub)
	oat(t, sysroot, "products", "add", "--store", store, "--code", "backup-server", "--settings-dir", t.TempDir())
	return sysroot, store
}

// request writes a request for backup-server on order ORD-1001 of the
// example orders, on a new server on machine.
func (w *world) request(t *testing.T, machine, email string) (sysroot, store, req string) {
	t.Helper()
	return w.requestFor(t, machine, "ORD-1001", "FN-1001-A", email)
}

func (w *world) requestFor(t *testing.T, machine, order, fn, email string) (sysroot, store, req string) {
	t.Helper()
	sysroot, store = w.server(t, machine)
	req = filepath.Join(t.TempDir(), machine+".request.oat")
	oat(t, sysroot, "request", "--store", store, "--order", order, "--fulfillment", fn,
		"--email", email, "--product", "backup-server", "--out", req)
	return sysroot, store, req
}

// download arranges for the context's downloads to land in dir and
// returns a channel that yields each finished file's path.
func download(t *testing.T, ctx context.Context, dir string) <-chan string {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil { // open the tab and its browser context
		t.Fatal(err)
	}
	done := make(chan string, 4)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if ev, ok := ev.(*browser.EventDownloadProgress); ok && ev.State == browser.DownloadProgressStateCompleted {
			done <- filepath.Join(dir, ev.GUID)
		}
	}); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		DownloadPath: dir, EventsEnabled: &on,
	}); err != nil {
		t.Fatal(err)
	}
	return done
}

// do runs browser steps and fails the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, chromedp.Text(chromedp.CSS(sel)))
}

// TestBrowserActivation is the operator's whole trip: a request written by
// oat request is uploaded in Chromium, the page shows what it asks for,
// the license is downloaded, and oat install accepts it. Then the page is
// switched to Japanese and does it again in Japanese.
func TestBrowserActivation(t *testing.T) {
	ctx := chromium(t)
	w := newWorld(t)
	sysroot, store, req := w.request(t, "rack01", "it@example.com")
	dl := t.TempDir()
	files := download(t, ctx, dl)

	do(t, ctx,
		chromedp.Navigate(w.portal.URL+"/?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#drop")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{req}),
		chromedp.WaitVisible(chromedp.CSS("#step-check")),
	)
	facts := text(t, ctx, "#facts")
	lead := text(t, ctx, "#check-lead")
	lang := get(t, ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang")).Value
	for _, want := range []string{"ORD-1001", "FN-1001-A", "it@example.com", "backup-server", "rack01", "Order ID", "Computer name"} {
		if !strings.Contains(facts, want) {
			t.Errorf("preview lacks %q:\n%s", want, facts)
		}
	}
	if lang != "en" || !strings.Contains(lead, "asks for a license") {
		t.Errorf("lang %q, lead %q", lang, lead)
	}
	shot(t, ctx, "en")

	do(t, ctx,
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#download")),
	)
	done := text(t, ctx, "#done")
	do(t, ctx, chromedp.Click(chromedp.CSS("#download")))
	if done != "The license file is ready." {
		t.Errorf("done text %q", done)
	}
	lic := waitFile(t, files)
	if !bytes.HasPrefix(lic, []byte("-----BEGIN OAT LICENSE-----")) {
		t.Fatalf("downloaded %q", lic)
	}
	path := filepath.Join(t.TempDir(), "license.oat")
	os.WriteFile(path, lic, 0o600)
	out := oat(t, sysroot, "install", "--store", store, path)
	if !strings.Contains(out, "installed") {
		t.Fatalf("oat install: %s", out)
	}

	// Japanese: the switch, the page, and the script's messages. The same
	// request again gets the same license (no second seat).
	do(t, ctx,
		chromedp.Click(chromedp.CSS("#lang-ja")),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="ja"] #drop`)),
	)
	h1 := text(t, ctx, "h1")
	do(t, ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{req}),
		chromedp.WaitVisible(chromedp.CSS("#step-check")),
	)
	jaFacts := text(t, ctx, "#facts")
	shot(t, ctx, "ja")
	do(t, ctx,
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#download")),
	)
	jaDone := text(t, ctx, "#done")
	jaText := get(t, ctx, chromedp.Value(chromedp.CSS("#license-text")))
	if h1 != "オフラインのサーバーをアクティベート" {
		t.Errorf("Japanese heading %q", h1)
	}
	if !strings.Contains(jaFacts, "オーダー ID") || !strings.Contains(jaFacts, "コンピューター名") {
		t.Errorf("Japanese preview %q", jaFacts)
	}
	if jaDone != "ライセンス ファイルの準備ができました。" {
		t.Errorf("Japanese done %q", jaDone)
	}
	if jaText != string(lic) {
		t.Error("the same request got a different license the second time")
	}
	v, err := w.desk.Show(context.Background(), "ORD-1001")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range v.Products {
		if l.Code == "backup-server" && l.Used != 1 {
			t.Errorf("backup-server: %d seats used after two uploads of one request", l.Used)
		}
	}
}

// TestBrowserErrors shows the refusals on the page: a file that is not a
// request, and in Japanese.
func TestBrowserErrors(t *testing.T) {
	ctx := chromium(t)
	w := newWorld(t)
	junk := filepath.Join(t.TempDir(), "junk.txt")
	os.WriteFile(junk, []byte("-----BEGIN OAT LICENSE-----\nAAAA\n-----END OAT LICENSE-----\n"), 0o600)
	do(t, ctx,
		chromedp.Navigate(w.portal.URL+"/?lang=ja"),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{junk}),
		chromedp.WaitVisible(chromedp.CSS("#problem")),
	)
	problem := text(t, ctx, "#problem")
	code := get(t, ctx, chromedp.AttributeValue(chromedp.CSS("#problem"), "data-code")).Value
	if code != "bad_file" || !strings.Contains(problem, "有効なリクエスト ファイルではありません") {
		t.Errorf("problem %q (%s)", problem, code)
	}
}

// TestBrowserStaffApprovesSecondEmail: a second address on a multi-seat
// order waits for approval (A8), the purchaser is mailed a link (A7), and
// desk staff sign in and approve it; then the same request is answered.
func TestBrowserStaffApprovesSecondEmail(t *testing.T) {
	ctx := chromium(t)
	w := newWorld(t)
	_, _, first := w.request(t, "rack01", "it@example.com")
	post(t, w, first, 200)
	// The first activation's registration mail is sent (FAQ 2.1).
	if sent, _ := w.desk.PendingMail(context.Background(), 10); len(sent) == 1 {
		w.desk.MarkSent(context.Background(), sent[0].ID)
	}
	sysroot, store, second := w.request(t, "rack02", "ops@example.com")
	body := post(t, w, second, 409)
	if !strings.Contains(body, "pending_approval") || strings.Contains(body, "it@example.com") {
		t.Fatalf("second address: %s", body)
	}
	body = post(t, w, second, 409)
	mail, err := w.desk.PendingMail(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mail) != 1 || mail[0].To != "it@example.com" || !strings.Contains(mail[0].Body, w.portal.URL+"/approve?t=") {
		t.Fatalf("outbox after two tries: %+v (%s)", mail, body)
	}

	do(t, ctx,
		chromedp.Navigate(w.portal.URL+"/staff?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), "Hanako"),
		chromedp.SendKeys(chromedp.CSS("#login-secret"), staffPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#approvals")),
	)
	rows := text(t, ctx, "#approvals")
	shot(t, ctx, "staff")
	do(t, ctx,
		chromedp.Click(chromedp.CSS("#approvals button.approve")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	flash := text(t, ctx, "#flash")
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#no-approvals")))
	if !strings.Contains(rows, "ops@example.com") || !strings.Contains(rows, "ORD-1001") {
		t.Errorf("approvals table %q", rows)
	}
	if flash != "Approved." {
		t.Errorf("flash %q", flash)
	}
	lic := post(t, w, second, 200)
	path := filepath.Join(t.TempDir(), "license.oat")
	os.WriteFile(path, []byte(lic), 0o600)
	oat(t, sysroot, "install", "--store", store, path)

	// The order page: both machines hold a seat; release the first by hand
	// with a reason, as for a machine that is gone (A21).
	do(t, ctx,
		chromedp.Navigate(w.portal.URL+"/staff/orders/ORD-1001"),
		chromedp.WaitVisible(chromedp.CSS("#activations")),
	)
	acts := text(t, ctx, "#activations")
	if !strings.Contains(acts, "rack01") || !strings.Contains(acts, "rack02") {
		t.Errorf("activations %q", acts)
	}
	shot(t, ctx, "order")
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(".release-form input[name=reason]"), "disk failed, machine scrapped"),
		chromedp.Click(chromedp.CSS(".release-form button")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if f := text(t, ctx, "#flash"); !strings.Contains(f, "released") {
		t.Errorf("flash after release %q", f)
	}
	if v, _ := w.desk.Show(context.Background(), "ORD-1001"); v.Used != 1 {
		t.Errorf("%d seats used after releasing one of two", v.Used)
	}
	do(t, ctx,
		chromedp.Navigate(w.portal.URL+"/staff/audit"),
		chromedp.WaitVisible(chromedp.CSS("#audit")),
	)
	audit := text(t, ctx, "#audit")
	if !strings.Contains(audit, "staff:Hanako") || !strings.Contains(audit, "email.approve") ||
		!strings.Contains(audit, "release.stale") || !strings.Contains(audit, "disk failed") {
		t.Errorf("audit log %q", audit)
	}
}

func post(t *testing.T, w *world, path string, want int) string {
	t.Helper()
	return postTo(t, w, "/v1/activations", path, want)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// postTo uploads a file to an API endpoint and checks the status.
func postTo(t *testing.T, w *world, endpoint, path string, want int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(w.portal.URL+endpoint, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d: %s", filepath.Base(path), res.StatusCode, want, body)
	}
	return string(body)
}

func waitFile(t *testing.T, files <-chan string) []byte {
	t.Helper()
	select {
	case path := <-files:
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	case <-time.After(20 * time.Second):
		t.Fatal("no download")
	}
	return nil
}

// shot saves a screenshot of the page for the docs when
// OAT_PORTAL_SCREENSHOTS names a directory.
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("OAT_PORTAL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("portal-%s.png", name)), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
