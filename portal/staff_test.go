package portal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// browserish is an HTTP client with cookies that does not follow
// redirects, to look at each answer.
func browserish(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page")
	}
	return m[1]
}

func login(t *testing.T, p *testPortal, c *http.Client, secret string) *http.Response {
	t.Helper()
	return loginAs(t, p, c, "Hanako", secret)
}

func loginAs(t *testing.T, p *testPortal, c *http.Client, name, secret string) *http.Response {
	t.Helper()
	_, page := fetch(t, c, "GET", p.URL+"/staff/login", nil)
	res, _ := fetch(t, c, "POST", p.URL+"/staff/login", url.Values{"csrf": {csrfOf(t, page)}, "name": {name}, "secret": {secret}})
	return res
}

func TestStaffLogin(t *testing.T) {
	p := newTestPortal(t, nil)
	c := browserish(t)
	if res, _ := fetch(t, c, "GET", p.URL+"/staff", nil); res.StatusCode != 303 || res.Header.Get("Location") != "/staff/login" {
		t.Fatalf("staff page without session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res := login(t, p, c, "wrong"); res.StatusCode != 401 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	// No CSRF token: refused even with the right password.
	if res, _ := fetch(t, browserish(t), "POST", p.URL+"/staff/login", url.Values{"name": {"Hanako"}, "secret": {testPassword}}); res.StatusCode != 403 {
		t.Fatalf("login without CSRF: %d", res.StatusCode)
	}
	res := login(t, p, c, testPassword)
	if res.StatusCode != 303 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", sess)
	}
	res, page := fetch(t, c, "GET", p.URL+"/staff", nil)
	if res.StatusCode != 200 || !strings.Contains(page, "ORD-1") || !strings.Contains(page, "Hanako") {
		t.Fatalf("staff page %d", res.StatusCode)
	}
	// Another member's name with Hanako's password is no sign-in.
	if res := loginAs(t, p, browserish(t), "Taro", testPassword); res.StatusCode != 401 {
		t.Fatalf("unknown member: %d", res.StatusCode)
	}
	// A made-up cookie is no session.
	forged := browserish(t)
	u, _ := url.Parse(p.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Repeat("A", 43)}})
	if res, _ := fetch(t, forged, "GET", p.URL+"/staff", nil); res.StatusCode != 303 {
		t.Fatalf("forged session: %d", res.StatusCode)
	}
	// A new password ends the session; the old password no longer signs in.
	p.staff.setPassword(t, "Hanako", "another long password")
	if res, _ := fetch(t, c, "GET", p.URL+"/staff", nil); res.StatusCode != 303 {
		t.Fatalf("session after a new password: %d", res.StatusCode)
	}
	if res := login(t, p, browserish(t), testPassword); res.StatusCode != 401 {
		t.Fatalf("old password after a new one: %d", res.StatusCode)
	}
}

func TestStaffClosedWithoutCredentials(t *testing.T) {
	p := newTestPortal(t, func(c *Config) { c.Staff = nil })
	if res, _ := fetch(t, browserish(t), "GET", p.URL+"/staff/login", nil); res.StatusCode != 404 {
		t.Fatalf("%d", res.StatusCode)
	}
}

func TestSecureCookiesOverHTTPS(t *testing.T) {
	p := newTestPortal(t, func(c *Config) { c.BaseURL = "https://licenses.example.com" })
	res := login(t, p, browserish(t), testPassword)
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie && !ck.Secure {
			t.Fatal("session cookie not Secure behind https")
		}
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS")
	}
}

func TestStaffActions(t *testing.T) {
	p := newTestPortal(t, nil)
	now := time.Now()
	p.desk.approvals["tok-1"] = &Approval{ID: "ap-1", Order: "ORD-1", Email: "second@example.com", Host: "db02", Created: now, Expires: now.Add(72 * time.Hour), State: "pending"}
	c := browserish(t)
	login(t, p, c, testPassword)
	_, page := fetch(t, c, "GET", p.URL+"/staff", nil)
	if !strings.Contains(page, "second@example.com") {
		t.Fatal("approval not listed")
	}
	csrf := csrfOf(t, page)

	// Without the CSRF token nothing happens.
	if res, _ := fetch(t, c, "POST", p.URL+"/staff/approvals/ap-1", url.Values{"decision": {"approve"}}); res.StatusCode != 403 {
		t.Fatalf("approve without CSRF: %d", res.StatusCode)
	}
	if res, _ := fetch(t, c, "POST", p.URL+"/staff/approvals/ap-1", url.Values{"decision": {"approve"}, "csrf": {csrf + "x"}}); res.StatusCode != 403 {
		t.Fatalf("approve with a wrong CSRF token: %d", res.StatusCode)
	}
	if len(p.desk.decided) != 0 {
		t.Fatal("decided without CSRF")
	}
	res, _ := fetch(t, c, "POST", p.URL+"/staff/approvals/ap-1", url.Values{"decision": {"approve"}, "csrf": {csrf}})
	if res.StatusCode != 303 || p.desk.decided[0] != "ap-1 approved by Hanako" {
		t.Fatalf("approve: %d %v", res.StatusCode, p.desk.decided)
	}

	_, page = fetch(t, c, "GET", p.URL+"/staff/orders/ORD-1", nil)
	if !strings.Contains(page, "Tokyo") || !strings.Contains(page, "db01") {
		t.Fatal("order page lacks pools or activations")
	}
	res, _ = fetch(t, c, "POST", p.URL+"/staff/orders/ORD-1/pools", url.Values{"csrf": {csrf}, "pool": {"Osaka"}, "product": {"backup-server"}, "seats": {"2"}})
	if res.StatusCode != 303 || p.desk.pools[0] != "ORD-1/backup-server/Osaka=2 by Hanako" {
		t.Fatalf("pool: %d %v", res.StatusCode, p.desk.pools)
	}
	res, page = fetch(t, c, "POST", p.URL+"/staff/orders/ORD-1/pools", url.Values{"csrf": {csrf}, "pool": {"Osaka"}, "product": {"backup-server"}, "seats": {"9"}})
	if res.StatusCode != 400 || !strings.Contains(page, "the order has 5") {
		t.Fatalf("oversized pool: %d", res.StatusCode)
	}
	if res, _ := fetch(t, c, "POST", p.URL+"/staff/activations/act-1/release", url.Values{"csrf": {csrf}, "order": {"ORD-1"}}); res.StatusCode != 400 {
		t.Fatalf("release without a reason: %d", res.StatusCode)
	}
	res, _ = fetch(t, c, "POST", p.URL+"/staff/activations/act-1/release", url.Values{"csrf": {csrf}, "order": {"ORD-1"}, "reason": {"disk died"}})
	if res.StatusCode != 303 || p.desk.released[0] != "act-1 (disk died) by Hanako" {
		t.Fatalf("release: %d %v", res.StatusCode, p.desk.released)
	}
	_, page = fetch(t, c, "GET", p.URL+"/staff/audit", nil)
	if !strings.Contains(page, "act-1 on db01 &lt;script&gt;") {
		t.Fatal("audit log not shown, or not escaped")
	}
	if res, _ := fetch(t, c, "POST", p.URL+"/staff/logout", url.Values{"csrf": {csrf}}); res.StatusCode != 303 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := fetch(t, c, "GET", p.URL+"/staff", nil); res.StatusCode != 303 {
		t.Fatal("still signed in after logout")
	}
}

func TestApprovalLink(t *testing.T) {
	now := time.Now()
	p := newTestPortal(t, nil)
	p.desk.approvals["good"] = &Approval{ID: "ap-1", Order: "ORD-1", Email: "second@example.com", Host: "db02", Expires: now.Add(time.Hour), State: "pending"}
	p.desk.approvals["old"] = &Approval{ID: "ap-2", Order: "ORD-1", Email: "third@example.com", Host: "db03", Expires: now.Add(-time.Hour), State: "pending"}
	c := browserish(t)

	res, page := fetch(t, c, "GET", p.URL+"/approve?t=good&lang=ja", nil)
	if res.StatusCode != 200 || !strings.Contains(page, "second@example.com") || !strings.Contains(page, "承認") {
		t.Fatalf("approval page: %d", res.StatusCode)
	}
	if len(p.desk.decided) != 0 {
		t.Fatal("opening the link decided")
	}
	if !strings.Contains(page, "db02") {
		t.Error("the approval page does not name the requesting host")
	}
	res, _ = fetch(t, c, "POST", p.URL+"/approve", url.Values{"t": {"good"}, "decision": {"approve"}})
	if res.StatusCode != 303 || len(p.desk.decided) != 1 {
		t.Fatalf("approve: %d %v", res.StatusCode, p.desk.decided)
	}
	// Right after deciding, the purchaser reads what was decided, not
	// that the (now used) link is invalid.
	res, page = fetch(t, c, "GET", p.URL+res.Header.Get("Location"), nil)
	if res.StatusCode != 200 || !strings.Contains(page, "承認しました") || strings.Contains(page, `id="error"`) {
		t.Fatalf("after approving: %d %s", res.StatusCode, page)
	}
	if res, _ := fetch(t, c, "POST", p.URL+"/approve", url.Values{"t": {"good"}, "decision": {"deny"}}); res.StatusCode != 404 {
		t.Fatalf("a used link decided again: %d", res.StatusCode)
	}

	_, page = fetch(t, c, "GET", p.URL+"/approve?t=old", nil)
	if !strings.Contains(page, `id="renew"`) || strings.Contains(page, `id="approve"`) {
		t.Fatal("expired link offers no renewal, or still offers approval")
	}
	res, _ = fetch(t, c, "POST", p.URL+"/approve/renew", url.Values{"t": {"old"}})
	if res.StatusCode != 200 || len(p.desk.renewed) != 1 {
		t.Fatalf("renew: %d %v", res.StatusCode, p.desk.renewed)
	}
	if res, _ := fetch(t, c, "GET", p.URL+"/approve?t=nope", nil); res.StatusCode != 404 {
		t.Fatalf("unknown token: %d", res.StatusCode)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword([]byte("pw"), PasswordParams{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ph, err := parsePasswordHash(h)
	if err != nil || !ph.matches([]byte("pw")) || ph.matches([]byte("pW")) {
		t.Fatalf("%s: %v", h, err)
	}
	for _, bad := range []string{"", "pw", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := parsePasswordHash(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// smtpSink is a minimal SMTP server on 127.0.0.1 that keeps what it gets.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func newSMTPSink(t *testing.T, addr string) *smtpSink {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpSink) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(l string) { fmt.Fprintf(conn, "%s\r\n", l) }
	say("220 sink ESMTP")
	var rcpt string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			rcpt = strings.TrimSpace(line[len("RCPT TO:"):])
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.rcpt = append(s.rcpt, rcpt)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestSenderDeliversAndKeepsMailWhileServerIsDown(t *testing.T) {
	d := newFakeDesk(t)
	d.outbox = []Mail{
		{ID: 1, To: "buyer@example.com", Subject: "承認のお願い / Approval needed", Body: "リンク: https://portal/approve?t=abc\n"},
		{ID: 2, To: "other@example.com", Subject: "second", Body: "two"},
	}
	// Reserve a port, then close it: the mail server is down.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	s := &Sender{Outbox: d, Addr: addr, From: "Desk <desk@example.com>", Timeout: 5 * time.Second}
	n, err := s.SendPending(context.Background())
	if err == nil || n != 0 || len(d.failed) != 1 {
		t.Fatalf("server down: sent %d, err %v, failed %v", n, err, d.failed)
	}
	if pending, _ := d.PendingMail(context.Background(), 10); len(pending) != 2 {
		t.Fatal("mail lost while the server was down")
	}
	sink := newSMTPSink(t, addr)
	if n, err := s.SendPending(context.Background()); err != nil || n != 2 {
		t.Fatalf("server up: sent %d, %v", n, err)
	}
	if pending, _ := d.PendingMail(context.Background(), 10); len(pending) != 0 {
		t.Fatal("sent mail still queued")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.msgs) != 2 || sink.rcpt[0] != "<buyer@example.com>" {
		t.Fatalf("sink got %d: %v", len(sink.msgs), sink.rcpt)
	}
	head, body, _ := strings.Cut(sink.msgs[0], "\r\n\r\n")
	if !strings.Contains(head, "Subject: =?utf-8?b?") || !strings.Contains(head, "Content-Transfer-Encoding: base64") {
		t.Fatalf("headers: %s", head)
	}
	text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\r\n", ""))
	if err != nil || !bytes.Contains(text, []byte("https://portal/approve?t=abc")) {
		t.Fatalf("body %q: %v", text, err)
	}
}

func TestSenderRejectsHeaderInjection(t *testing.T) {
	d := newFakeDesk(t)
	d.outbox = []Mail{{ID: 1, To: "a@example.com\r\nBcc: evil@example.com", Subject: "x", Body: "y"}}
	sink := newSMTPSink(t, "127.0.0.1:0")
	s := &Sender{Outbox: d, Addr: sink.ln.Addr().String(), From: "desk@example.com"}
	if _, err := s.SendPending(context.Background()); err == nil {
		t.Fatal("sent a mail with an injected header")
	}
	if len(sink.msgs) != 0 {
		t.Fatal("sink got mail")
	}
}
