package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/portal"
)

// upload posts a file to /v1/activations as the client at addr (through
// a trusted proxy on loopback) and returns the status and body.
func upload(t *testing.T, base, path, addr string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/v1/activations", strings.NewReader(string(data)))
	req.Header.Set("X-Forwarded-For", addr)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func apiCode(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return e.Error
}

// TestOrdersCannotBeProbed: the fulfillment number is an order's only
// secret (A1). An unknown order and a wrong fulfillment number get the
// very same answer; repeated wrong guesses lock the order ID (for
// everyone) and the address (for every order), the same way whether the
// order exists or not.
func TestOrdersCannotBeProbed(t *testing.T) {
	w := newWorld(t)
	p := w.serveWith(t, w.desk, func(c *portal.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	_, _, wrongFN := w.requestFor(t, "rack01", "ORD-1001", "FN-WRONG", "it@example.com")
	_, _, unknown := w.requestFor(t, "rack02", "ORD-NOPE", "FN-1001-A", "it@example.com")
	_, _, right := w.requestFor(t, "vm-hv1", "ORD-1001", "FN-1001-A", "it@example.com")
	_, _, other := w.requestFor(t, "node1", "ORD-1004", "FN-1004-A", "ops@example.net")

	s1, b1 := upload(t, p.URL, wrongFN, "198.51.100.1")
	s2, b2 := upload(t, p.URL, unknown, "198.51.100.2")
	if s1 != 403 || s1 != s2 || b1 != b2 {
		t.Fatalf("wrong fulfillment number: %d %s\nunknown order: %d %s", s1, b1, s2, b2)
	}

	// Per address: five wrong guesses from one address lock it out of
	// every order; other addresses go on.
	for _, guess := range []string{wrongFN, wrongFN, wrongFN, unknown, unknown} {
		if st, body := upload(t, p.URL, guess, "203.0.113.66"); st != 403 {
			t.Fatalf("guess: %d %s", st, body)
		}
	}
	if st, body := upload(t, p.URL, other, "203.0.113.66"); st != 429 || apiCode(t, body) != "locked_out" {
		t.Fatalf("a locked-out address activated: %d %s", st, body)
	}
	if st, body := upload(t, p.URL, other, "192.0.2.52"); st != 200 {
		t.Fatalf("another client on another order was locked out too: %d %s", st, body)
	}

	// Per order: with ten wrong guesses in all, each new one from its own
	// address, ORD-1001 is locked, even against its right fulfillment
	// number; the unknown order ID locks alike.
	for i := range 6 {
		upload(t, p.URL, wrongFN, fmt.Sprintf("198.51.100.%d", 10+i))
	}
	for i := range 7 {
		upload(t, p.URL, unknown, fmt.Sprintf("198.51.100.%d", 30+i))
	}
	st, body := upload(t, p.URL, right, "192.0.2.50")
	st2, body2 := upload(t, p.URL, unknown, "192.0.2.51")
	if st != 429 || apiCode(t, body) != "locked_out" || st2 != 429 || apiCode(t, body2) != "locked_out" {
		t.Fatalf("after 10 wrong guesses: right FN %d %s; unknown order %d %s", st, body, st2, body2)
	}
}

// TestStaffSessionsEndInTheLedger: a staff session is a row in the
// ledger. Signing out ends it for every copy of the cookie; a new
// password ends all of the member's sessions; a portal started with staff
// access off answers 404 on every staff route, whatever cookie comes.
func TestStaffSessionsEndInTheLedger(t *testing.T) {
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			w := newWorldOn(t, b.DSN)
			signIn := func(password string) (*http.Client, string) {
				t.Helper()
				jar, _ := cookiejar.New(nil)
				c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				res, err := c.Get(w.portal.URL + "/staff/login")
				if err != nil {
					t.Fatal(err)
				}
				page, _ := io.ReadAll(res.Body)
				res.Body.Close()
				csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
				res, err = c.PostForm(w.portal.URL+"/staff/login", url.Values{"csrf": {string(csrf[1])}, "name": {"Hanako"}, "secret": {password}})
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				for _, ck := range res.Cookies() {
					if ck.Name == "oat_staff" && ck.Value != "" {
						return c, ck.Value
					}
				}
				t.Fatalf("sign-in: %d, no session cookie", res.StatusCode)
				return nil, ""
			}
			// with sends a request carrying only the session cookie value,
			// as anyone holding a copy of it would.
			with := func(base, method, path, cookie string) int {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, nil)
				req.AddCookie(&http.Cookie{Name: "oat_staff", Value: cookie})
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}

			c, first := signIn(staffPassword)
			if st := with(w.portal.URL, "GET", "/staff", first); st != 200 {
				t.Fatalf("signed in: %d", st)
			}
			res, _ := c.Get(w.portal.URL + "/staff")
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
			if res, err := c.PostForm(w.portal.URL+"/staff/logout", url.Values{"csrf": {string(csrf[1])}}); err != nil || res.StatusCode != 303 {
				t.Fatalf("logout: %v %v", res, err)
			}
			if st := with(w.portal.URL, "GET", "/staff", first); st != 303 {
				t.Fatalf("a copy of the cookie works after signing out: %d", st)
			}

			_, second := signIn(staffPassword)
			hash, err := portal.HashPassword([]byte("a new password for Hanako"), portal.PasswordParams{Time: 1, Memory: 64, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.desk.SetStaffPassword(context.Background(), "Hanako", hash, "test"); err != nil {
				t.Fatal(err)
			}
			if st := with(w.portal.URL, "GET", "/staff", second); st != 303 {
				t.Fatalf("a session outlived its password: %d", st)
			}

			_, third := signIn("a new password for Hanako")
			if st := with(w.portal.URL, "GET", "/v1/orders/ORD-1001", third); st != 200 {
				t.Fatalf("staff API with a session: %d", st)
			}
			closed := w.serveWith(t, w.desk, func(c *portal.Config) { c.Staff = nil })
			for _, r := range []struct{ method, path string }{
				{"GET", "/staff"}, {"GET", "/staff/login"}, {"POST", "/staff/login"}, {"GET", "/staff/audit"},
				{"GET", "/staff/orders/ORD-1001"}, {"POST", "/staff/logout"}, {"POST", "/staff/approvals/x"},
				{"POST", "/staff/orders/ORD-1001/pools"}, {"POST", "/staff/activations/a/release"}, {"GET", "/v1/orders/ORD-1001"},
			} {
				if st := with(closed.URL, r.method, r.path, third); st != 404 {
					t.Errorf("staff access off: %s %s answered %d", r.method, r.path, st)
				}
			}

			log, err := w.desk.Audit(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			var logins, logouts int
			for _, e := range log {
				switch {
				case e.Actor == "staff:Hanako" && e.Action == "staff.login":
					logins++
				case e.Actor == "staff:Hanako" && e.Action == "staff.logout":
					logouts++
				}
			}
			if logins != 3 || logouts != 1 {
				t.Errorf("audit: %d sign-ins and %d sign-outs by staff:Hanako, want 3 and 1", logins, logouts)
			}
		})
	}
}
