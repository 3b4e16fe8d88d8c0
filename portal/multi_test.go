package portal_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// TestTwoPortalsOneLedger runs two portals (two desks, two database
// connections, as two processes behind a load balancer) on one ledger, on
// SQLite and on PostgreSQL: a request answered by one is answered the same
// by the other, a staff session from one works on the other, and requests
// racing through both never get more seats than the order holds (S3).
func TestTwoPortalsOneLedger(t *testing.T) {
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			w := newWorldOn(t, b.DSN)
			other := w.anotherPortal(t)

			_, _, req := w.request(t, "rack01", "it@example.com")
			lic := post(t, w, req, 200)
			data, _ := os.ReadFile(req)
			res, err := http.Post(other.URL+"/v1/activations", "text/plain", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(again) != lic {
				t.Fatalf("the other portal answered %d, same license %v", res.StatusCode, string(again) == lic)
			}

			// Sign in on one portal, use the session on the other.
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, _ = c.Get(w.portal.URL + "/staff/login")
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
			if csrf == nil {
				t.Fatal("no CSRF token on the login page")
			}
			res, _ = c.PostForm(w.portal.URL+"/staff/login", url.Values{"csrf": {string(csrf[1])}, "name": {"Hanako"}, "secret": {staffPassword}})
			res.Body.Close()
			if res.StatusCode != 303 {
				t.Fatalf("login: %d", res.StatusCode)
			}
			// Cookies are per host, not per port: the jar sends it to both.
			res, _ = c.Get(other.URL + "/v1/orders/ORD-1001")
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("session on the other portal: %d", res.StatusCode)
			}

			// ORD-1004 holds one seat: four servers race for it through
			// both portals; exactly one wins.
			machines := []string{"rack02", "vm-esx1", "vm-hv1", "node1"}
			var files [][]byte
			for _, m := range machines {
				_, _, r := w.requestFor(t, m, "ORD-1004", "FN-1004-A", "ops@example.net")
				d, _ := os.ReadFile(r)
				files = append(files, d)
			}
			var wg sync.WaitGroup
			codes := make([]int, len(files))
			for i, d := range files {
				wg.Add(1)
				go func() {
					defer wg.Done()
					base := w.portal.URL
					if i%2 == 1 {
						base = other.URL
					}
					res, err := http.Post(base+"/v1/activations", "application/octet-stream", bytes.NewReader(d))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					codes[i] = res.StatusCode
				}()
			}
			wg.Wait()
			won := 0
			for i, code := range codes {
				switch code {
				case 200:
					won++
				case 409:
				default:
					t.Errorf("%s: status %d", machines[i], code)
				}
			}
			if won != 1 {
				t.Fatalf("%d servers got the one seat: %v", won, codes)
			}
		})
	}
}
