package portal

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hashProbe replaces the argon2id check with one that records how many
// run at once and holds each until released.
type hashProbe struct {
	inside, max, calls atomic.Int64
	release            chan struct{}
}

func probeHashes(s *Server) *hashProbe {
	h := &hashProbe{release: make(chan struct{})}
	s.verify = func(string, []byte) bool {
		n := h.inside.Add(1)
		h.calls.Add(1)
		for {
			m := h.max.Load()
			if n <= m || h.max.CompareAndSwap(m, n) {
				break
			}
		}
		<-h.release
		h.inside.Add(-1)
		return false
	}
	return h
}

// loginForm gets a sign-in form's CSRF cookie and token for one client.
func loginForm(t *testing.T, base string) (*http.Client, url.Values) {
	c := browserish(t)
	_, page := fetch(t, c, "GET", base+"/staff/login", nil)
	return c, url.Values{"csrf": {csrfOf(t, page)}, "name": {"Hanako"}, "secret": {"a wrong guess"}}
}

// TestPasswordHashesAreBounded: 80 concurrent wrong sign-ins from 4
// addresses (the attack that took the portal to 5.3 GB) never run more
// argon2id computations at once than the bound; the others are refused
// at once instead of queueing 64 MiB each.
func TestPasswordHashesAreBounded(t *testing.T) {
	const bound, attempts = 3, 80
	p := newTestPortal(t, func(c *Config) {
		c.MaxConcurrentHashes = bound
		c.LoginRatePerMinute, c.LoginBurst = 6000, attempts // only the concurrency bound is under test here
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	probe := probeHashes(p.srv)
	type client struct {
		c    *http.Client
		form url.Values
	}
	var clients []client
	for range attempts {
		c, form := loginForm(t, p.URL)
		clients = append(clients, client{c, form})
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	statuses := make([]int, attempts)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", p.URL+"/staff/login", strings.NewReader(cl.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}[i%4])
			res, err := cl.c.Do(req)
			if err != nil {
				t.Error(err)
				done.Add(1)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
			done.Add(1)
		}()
	}
	// Wait until every attempt is either answered or inside a hash: the
	// state of the most hashes at once.
	for done.Load()+probe.inside.Load() < attempts {
		time.Sleep(time.Millisecond)
	}
	if n := probe.inside.Load(); n != bound {
		t.Errorf("%d password hashes at once, want the bound %d", n, bound)
	}
	close(probe.release)
	wg.Wait()
	if m := probe.max.Load(); m > bound {
		t.Fatalf("%d password hashes ran at once; the bound is %d", m, bound)
	}
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusUnauthorized] != bound || count[http.StatusTooManyRequests] != attempts-bound {
		t.Fatalf("answers %v: want %d wrong-password and the rest told to retry", count, bound)
	}
}

// TestLoginRateIsPortalWide: sign-ins from ever new addresses still pass
// one portal-wide rate, so no number of addresses buys more hashing.
func TestLoginRateIsPortalWide(t *testing.T) {
	p := newTestPortal(t, func(c *Config) {
		c.LoginRatePerMinute, c.LoginBurst = 1, 5
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	probe := probeHashes(p.srv)
	close(probe.release)
	count := map[int]int{}
	for i := range 20 {
		c, form := loginForm(t, p.URL)
		req, _ := http.NewRequest("POST", p.URL+"/staff/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String())
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		count[res.StatusCode]++
		if res.StatusCode == http.StatusTooManyRequests && (!strings.Contains(string(page), "Too many sign-in attempts") || res.Header.Get("Retry-After") == "") {
			t.Fatalf("refused sign-in page (Retry-After %q): %s", res.Header.Get("Retry-After"), page)
		}
	}
	if probe.calls.Load() != 5 || count[http.StatusUnauthorized] != 5 || count[http.StatusTooManyRequests] != 15 {
		t.Fatalf("%d hashes, answers %v: want 5 checked, 15 refused", probe.calls.Load(), count)
	}
	// The staff API's Basic credentials draw from the same allowance.
	req, _ := http.NewRequest("GET", p.URL+"/v1/orders/ORD-1", nil)
	req.SetBasicAuth("Hanako", testPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || probe.calls.Load() != 5 {
		t.Fatalf("staff API after the sign-in rate is spent: %d, %d hashes", res.StatusCode, probe.calls.Load())
	}
}

// TestTrustedProxy: X-Forwarded-For counts only from a trusted proxy,
// and then the client is the right-most address that is not a proxy.
func TestTrustedProxy(t *testing.T) {
	s, err := New(Config{Desk: newFakeDesk(t), SessionKey: make([]byte, 32),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "192.0.2.7:5000", nil, "192.0.2.7"},
		{"untrusted peer's header is ignored", "192.0.2.7:5000", []string{"203.0.113.9"}, "192.0.2.7"},
		{"trusted proxy names the client", "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left part is skipped", "10.1.2.3:5000", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"proxy chain", "10.1.2.3:5000", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several headers", "10.1.2.3:5000", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"IPv6 proxy", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"garbage counts against the proxy", "10.1.2.3:5000", []string{"not-an-address"}, "10.1.2.3"},
		{"only proxies", "10.1.2.3:5000", []string{"10.4.4.4"}, "10.4.4.4"},
		{"no header from a proxy", "10.1.2.3:5000", nil, "10.1.2.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != c.want {
				t.Fatalf("client %q, want %q", got, c.want)
			}
		})
	}
}

// TestRateLimitPerRealClient: behind a trusted proxy, one client spending
// its allowance leaves the next client theirs; from an untrusted peer,
// a made-up X-Forwarded-For buys nothing.
func TestRateLimitPerRealClient(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		p := newTestPortal(t, func(c *Config) {
			c.RatePerMinute, c.Burst = 1, 2
			if trusted {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
		})
		req, _ := newRequest(t, "ORD-1", "h")
		from := func(client string) int {
			r, _ := http.NewRequest("POST", p.URL+"/v1/activations", strings.NewReader(string(req)))
			r.Header.Set("X-Forwarded-For", client)
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		got := []int{from("198.51.100.1"), from("198.51.100.1"), from("198.51.100.1"), from("198.51.100.2")}
		want := []int{200, 200, 429, 200}
		if !trusted {
			want = []int{200, 200, 429, 429}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trusted proxy %v: answers %v, want %v", trusted, got, want)
			}
		}
	}
}

// TestGuessGuard: wrong order ID / fulfillment number pairs lock the
// order ID and the address, each at its own threshold, for the lockout
// period; counts expire.
func TestGuessGuard(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := newGuessGuard(3, 5, 15*time.Minute, func() time.Time { return now })
	for i := range 2 {
		g.failed("ORD-1", "a"+string(rune('0'+i)))
	}
	if !g.lockedUntil("ORD-1", "z").IsZero() {
		t.Fatal("locked before the threshold")
	}
	g.failed("ORD-1", "a9")
	if until := g.lockedUntil("ORD-1", "z"); !until.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("order not locked: %v", until)
	}
	if !g.lockedUntil("ORD-2", "z").IsZero() {
		t.Fatal("another order locked")
	}
	for i := range 5 {
		g.failed("NOPE-"+string(rune('0'+i)), "b")
	}
	if g.lockedUntil("ORD-2", "b").IsZero() {
		t.Fatal("address not locked after 5 wrong guesses")
	}
	now = now.Add(16 * time.Minute)
	if !g.lockedUntil("ORD-1", "b").IsZero() {
		t.Fatal("still locked after the lockout")
	}
	// Guesses spread wider than the window do not add up.
	for range 4 {
		g.failed("ORD-3", "c")
		now = now.Add(10 * time.Minute)
	}
	if !g.lockedUntil("ORD-3", "c").IsZero() {
		t.Fatal("guesses over an hour added up to a lockout")
	}
}

// FuzzClientIP feeds hostile X-Forwarded-For headers and peer addresses
// to the client address decoder: it never panics, the peer decides
// whether the header counts at all, and what it returns is the peer or a
// valid address that is not a trusted proxy (unless only proxies came).
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:5000", "203.0.113.9")
	f.Add("10.1.2.3:5000", "6.6.6.6, 203.0.113.9, 10.9.9.9")
	f.Add("192.0.2.7:1", "203.0.113.9")
	f.Add("[::1]:5000", "2001:db8::1,::ffff:10.0.0.1")
	f.Add("nonsense", ",,,")
	f.Add("10.0.0.1:1", "fe80::1%eth0")
	s, err := New(Config{Desk: newFakeDesk(f), SessionKey: make([]byte, 32),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := s.clientIP(r)
		host, _, err := net.SplitHostPort(peer)
		if err != nil {
			host = peer
		}
		pa, err := netip.ParseAddr(host)
		if err != nil || !s.trusted(pa) {
			if got != host {
				t.Fatalf("untrusted peer %q: client %q", peer, got)
			}
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("peer %q, X-Forwarded-For %q: client %q is no address", peer, xff, got)
		}
		// The client is the peer or one of the hops, never made up.
		seen := map[string]bool{pa.String(): true, pa.Unmap().String(): true}
		for _, h := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil {
				seen[a.Unmap().String()] = true
			}
		}
		if !seen[got] {
			t.Fatalf("peer %q, X-Forwarded-For %q: client %q came from nowhere", peer, xff, got)
		}
	})
}
