package portal_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/portal"
)

var linkRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/approve\?t=[A-Za-z0-9_%-]+`)

// mailLinks sends the desk's queued mail to an SMTP sink and returns the
// approval links in what arrived.
func mailLinks(t *testing.T, w *world, addr string, received func() []string, before int) []string {
	t.Helper()
	s := &portal.Sender{Outbox: portal.NewLedgerDesk(w.desk, w.vendor, w.portal.URL), Addr: addr, From: "desk@example.com"}
	if _, err := s.SendPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, m := range received()[before:] {
		_, body, _ := strings.Cut(m, "\r\n\r\n")
		text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\r\n", ""))
		if err != nil {
			t.Fatalf("mail body: %v", err)
		}
		// Registration mails (FAQ 2.1) go out too; only approval links count here.
		if l := linkRE.FindString(string(text)); l != "" {
			links = append(links, l)
		}
	}
	if pending, _ := w.desk.PendingMail(context.Background(), 10); len(pending) != 0 {
		t.Fatalf("%d mails still queued after sending", len(pending))
	}
	return links
}

// visitRedirect posts form and returns the status and the Location.
func visitRedirect(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

func visit(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = c.Get(u)
	} else {
		res, err = c.PostForm(u, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestApprovalLinkLifecycle runs A7 and A8 against the real desk: the
// purchaser's mail goes out through SMTP, its link expires after 72 hours,
// an expired link sends a fresh one, the old one then stops working, and
// the approval lets the second address activate.
func TestApprovalLinkLifecycle(t *testing.T) {
	w := newWorld(t)
	addr, received := portal.StartSMTPSink(t)
	_, _, first := w.request(t, "rack01", "it@example.com")
	post(t, w, first, 200)
	_, _, second := w.request(t, "rack02", "ops@example.com")
	post(t, w, second, 409)

	links := mailLinks(t, w, addr, received, 0)
	if len(links) != 1 || links[0] == "" {
		t.Fatalf("links %q", links)
	}
	first72 := links[0]
	status, page := visit(t, "GET", first72, nil)
	if status != 200 || !strings.Contains(page, `id="approve"`) || !strings.Contains(page, "ops@example.com") {
		t.Fatalf("fresh link: %d", status)
	}
	if !strings.Contains(page, "rack02") {
		t.Error("the approval page does not name the computer the request is for")
	}

	w.now = w.now.Add(73 * time.Hour)
	status, page = visit(t, "GET", first72+"&lang=ja", nil)
	if status != 200 || !strings.Contains(page, `id="renew"`) || strings.Contains(page, `id="approve"`) || !strings.Contains(page, "有効期限が切れています") {
		t.Fatalf("expired link: %d", status)
	}
	u, _ := url.Parse(first72)
	tok := u.Query().Get("t")
	if status, _ := visit(t, "POST", w.portal.URL+"/approve", url.Values{"t": {tok}, "decision": {"approve"}}); status == 303 {
		t.Fatal("an expired link approved")
	}
	if status, page = visit(t, "POST", w.portal.URL+"/approve/renew", url.Values{"t": {tok}}); status != 200 || !strings.Contains(page, "72 hours") {
		t.Fatalf("renew: %d", status)
	}
	links = mailLinks(t, w, addr, received, 2)
	if len(links) != 1 || links[0] == "" || links[0] == first72 {
		t.Fatalf("renewed links %q", links)
	}
	if status, _ := visit(t, "GET", first72, nil); status != 404 {
		t.Fatalf("the replaced link still works: %d", status)
	}
	fresh, _ := url.Parse(links[0])
	status, next := visitRedirect(t, w.portal.URL+"/approve", url.Values{"t": {fresh.Query().Get("t")}, "decision": {"approve"}})
	if status != 303 {
		t.Fatalf("approve through the fresh link: %d", status)
	}
	// What the purchaser sees right after approving: that it is done,
	// not that the link (used up now) is invalid.
	if status, page := visit(t, "GET", w.portal.URL+next+"&lang=en", nil); status != 200 || !strings.Contains(page, "Approved.") || strings.Contains(page, "not valid") {
		t.Fatalf("after approving: %d %s", status, page)
	}
	post(t, w, second, 200)
}

// TestDeniedAddressIsNotEntitled: once the purchaser denies an address,
// it gets 403 and no further mail is sent to the purchaser.
func TestDeniedAddressIsNotEntitled(t *testing.T) {
	w := newWorld(t)
	_, _, first := w.request(t, "rack01", "it@example.com")
	post(t, w, first, 200)
	_, _, second := w.request(t, "rack02", "mallory@example.com")
	post(t, w, second, 409)
	if err := w.desk.Decide(context.Background(), "ORD-1001", "mallory@example.com", false, "it@example.com"); err != nil {
		t.Fatal(err)
	}
	body := post(t, w, second, 403)
	if !strings.Contains(body, "not_entitled") {
		t.Fatalf("%s", body)
	}
	mail, _ := w.desk.PendingMail(context.Background(), 10)
	if len(mail) != 2 {
		t.Fatalf("%d mails queued; want the registration and the first approval request only", len(mail))
	}
}

// TestReleaseReceiptThroughPortal: a deactivated server's receipt goes
// back through the API once; a replay is a 409.
func TestReleaseReceiptThroughPortal(t *testing.T) {
	w := newWorld(t)
	sysroot, store, req := w.request(t, "rack01", "it@example.com")
	lic := post(t, w, req, 200)
	licPath := t.TempDir() + "/license.oat"
	writeFile(t, licPath, lic)
	oat(t, sysroot, "install", "--store", store, licPath)
	receipt := t.TempDir() + "/release.oat"
	oat(t, sysroot, "deactivate", "--store", store, "--out", receipt, "--reason", "moved")
	body := postTo(t, w, "/v1/releases", receipt, 200)
	if !strings.Contains(body, `"activation"`) || !strings.Contains(body, "rack01") {
		t.Fatalf("%s", body)
	}
	if body := postTo(t, w, "/v1/releases", receipt, 409); !strings.Contains(body, "conflict") {
		t.Fatalf("replay: %s", body)
	}
	v, _ := w.desk.Show(context.Background(), "ORD-1001")
	if v.Used != 0 {
		t.Fatalf("%d seats used after release", v.Used)
	}
}

// TestRealDeskRefusals: the desk's refusals reach the client as the
// documented statuses.
func TestRealDeskRefusals(t *testing.T) {
	w := newWorld(t)
	// ORD-1004 has one seat of backup-server.
	_, _, first := w.requestFor(t, "rack01", "ORD-1004", "FN-1004-A", "ops@example.net")
	post(t, w, first, 200)
	_, _, second := w.requestFor(t, "rack02", "ORD-1004", "FN-1004-A", "ops@example.net")
	if body := post(t, w, second, 409); !strings.Contains(body, `"no_seats"`) || !strings.Contains(body, "1 of 1 seats in use") {
		t.Errorf("no seats: %s", body)
	}
	_, _, wrongFN := w.requestFor(t, "vm-esx1", "ORD-1004", "FN-WRONG", "ops@example.net")
	if body := post(t, w, wrongFN, 403); !strings.Contains(body, `"not_entitled"`) || strings.Contains(body, "FN-1004-A") {
		t.Errorf("wrong fulfillment number: %s", body)
	}
	_, _, unknown := w.requestFor(t, "vm-esx2", "ORD-9999", "FN-1", "ops@example.net")
	if body := post(t, w, unknown, 403); !strings.Contains(body, `"not_entitled"`) {
		t.Errorf("unknown order: %s", body)
	}
}

// TestRuleA12_ActivationFromAPool: the API takes a new activation's seat
// from the license pool the upload names (?pool=, or a form field "pool",
// FAQ 2.22); without it the seat comes from the default pool.
func TestRuleA12_ActivationFromAPool(t *testing.T) {
	w := newWorld(t)
	// ORD-1004 has one seat of backup-server: move it into "Tokyo".
	if err := w.desk.SetPool(context.Background(), "ORD-1004", "backup-server", "Tokyo", 1, "test"); err != nil {
		t.Fatal(err)
	}
	_, _, req := w.requestFor(t, "rack01", "ORD-1004", "FN-1004-A", "ops@example.net")
	if body := post(t, w, req, 409); !strings.Contains(body, `"no_seats"`) || !strings.Contains(body, "Default (Unassigned Licenses)") {
		t.Fatalf("default pool: %s", body)
	}
	if body := postTo(t, w, "/v1/activations?pool=Osaka", req, 404); !strings.Contains(body, `no pool \"Osaka\"`) {
		t.Fatalf("unknown pool: %s", body)
	}
	postTo(t, w, "/v1/activations?pool=Tokyo", req, 200)
	v, err := w.desk.Show(context.Background(), "ORD-1004")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Pools {
		if p.Name == "Tokyo" && p.Used != 1 {
			t.Errorf("pool Tokyo: %d used", p.Used)
		}
	}
}

var registerRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/register\?t=[A-Za-z0-9_.%-]+`)

// TestRuleA7_RegistrationLinkThroughThePortal (FAQ 2.1, 2.9, 2.11): the
// activation's registration mail links to the portal; the page confirms
// the address, which the staff area then shows as verified; an expired
// link shows its expiry and sends a fresh one.
func TestRuleA7_RegistrationLinkThroughThePortal(t *testing.T) {
	w := newWorld(t)
	_, _, first := w.request(t, "rack01", "it@example.com")
	post(t, w, first, 200)
	_, _, second := w.requestFor(t, "rack02", "ORD-1004", "FN-1004-A", "ops@example.net")
	post(t, w, second, 200)
	mail, err := w.desk.PendingMail(context.Background(), 10)
	if err != nil || len(mail) != 2 {
		t.Fatalf("outbox: %d mails, %v", len(mail), err)
	}
	link := registerRE.FindString(mail[0].Body)
	expiring := registerRE.FindString(mail[1].Body)
	if link == "" || expiring == "" || mail[0].To != "it@example.com" {
		t.Fatalf("registration mail to %s:\n%s", mail[0].To, mail[0].Body)
	}
	status, page := visit(t, "GET", link, nil)
	if status != 200 || !strings.Contains(page, `id="confirm"`) || !strings.Contains(page, "rack01") {
		t.Fatalf("registration page: %d\n%s", status, page)
	}
	u, _ := url.Parse(link)
	if status, page := visit(t, "POST", w.portal.URL+"/register", url.Values{"t": {u.Query().Get("t")}}); status != 200 || !strings.Contains(page, "registered") {
		t.Fatalf("confirm: %d\n%s", status, page)
	}
	v, _ := w.desk.Show(context.Background(), "ORD-1001")
	if len(v.Activations) != 1 || !v.Activations[0].EmailVerified {
		t.Fatalf("after confirming: %+v", v.Activations)
	}
	// A valid link is not renewed; an expired one is.
	e, _ := url.Parse(expiring)
	tok := e.Query().Get("t")
	if status, _ := visit(t, "POST", w.portal.URL+"/register/renew", url.Values{"t": {tok}}); status == 200 {
		t.Fatal("a valid link was renewed")
	}
	w.now = w.now.Add(73 * time.Hour)
	status, page = visit(t, "GET", expiring+"&lang=ja", nil)
	if status != 200 || !strings.Contains(page, `id="renew"`) || strings.Contains(page, `id="confirm"`) || !strings.Contains(page, "有効期限が切れています") {
		t.Fatalf("expired link: %d\n%s", status, page)
	}
	if status, page = visit(t, "POST", w.portal.URL+"/register/renew", url.Values{"t": {tok}}); status != 200 || !strings.Contains(page, "72 hours") {
		t.Fatalf("renew: %d\n%s", status, page)
	}
	mail, _ = w.desk.PendingMail(context.Background(), 10)
	if fresh := registerRE.FindString(mail[len(mail)-1].Body); fresh == "" || fresh == expiring || mail[len(mail)-1].To != "ops@example.net" {
		t.Fatalf("renewed mail to %s:\n%s", mail[len(mail)-1].To, mail[len(mail)-1].Body)
	}
}
