package portalclient_test

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/portalclient"
)

func TestCheckURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://licenses.example.com", true},
		{"https://licenses.example.com/oat/", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"http://localhost:8080", true},
		{"http://licenses.example.com", false}, // plain http off the machine
		{"http://10.0.0.5", false},
		{"ftp://licenses.example.com", false},
		{"https://user:pw@licenses.example.com", false},
		{"https://licenses.example.com?x=1", false},
		{"licenses.example.com", false},
		{"", false},
	} {
		_, err := portalclient.CheckURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v", tt.url, err)
		}
	}
}

func post(t *testing.T, cfg portalclient.Config) ([]byte, error) {
	t.Helper()
	c, err := portalclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.Post(context.Background(), portalclient.CheckInsPath, []byte("file"))
}

// TestTLS: HTTPS verifies the portal's certificate against the system
// roots; a private CA is trusted only when given with --ca.
func TestTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/online/checkins" || r.Method != "POST" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("answer to "), b...))
	}))
	defer ts.Close()
	_, err := post(t, portalclient.Config{URL: ts.URL})
	if !errors.Is(err, portalclient.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("refused: a certificate from an unknown CA: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644)
	body, err := post(t, portalclient.Config{URL: ts.URL, CAFile: ca})
	if err != nil || string(body) != "answer to file" {
		t.Fatalf("allowed: the private CA given: %q %v", body, err)
	}
	os.WriteFile(ca, []byte("not a certificate"), 0o644)
	if _, err := portalclient.New(portalclient.Config{URL: ts.URL, CAFile: ca}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("refused: a CA file without certificates: %v", err)
	}
}

// TestAnswers: a refusal carries the portal's reason; a server error, a
// page that is not the API's and a redirect are "unreachable".
func TestAnswers(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(409)
		w.Write([]byte(`{"error":"no_seats","message":"order ORD-1 has no free\nbackup-server"}`))
	}))
	defer ts.Close()
	_, err := post(t, portalclient.Config{URL: ts.URL})
	var refused *portalclient.RefusedError
	if !errors.As(err, &refused) || refused.Code != "no_seats" || err.Error() != "the license portal refused: order ORD-1 has no free backup-server" {
		t.Fatalf("refusal: %v", err)
	}
	for name, h := range map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":"unavailable","message":"Service Unavailable"}`))
		},
		"proxy page": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		},
		"too big": func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 70<<10)) },
	} {
		ts := httptest.NewServer(h)
		_, err := post(t, portalclient.Config{URL: ts.URL})
		if !errors.Is(err, portalclient.ErrUnreachable) {
			t.Errorf("%s: %v", name, err)
		}
		ts.Close()
	}
}

// TestTimeout: a portal that never answers is given up after the timeout.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	_, err := post(t, portalclient.Config{URL: ts.URL, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, portalclient.ErrUnreachable) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("%v", err)
	}
}

// recordingProxy answers every CONNECT with 502 and records the target.
func recordingProxy(t *testing.T) (string, func() []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var seen []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				mu.Lock()
				seen = append(seen, req.Method+" "+req.Host)
				mu.Unlock()
				io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			}()
		}
	}()
	return "http://" + ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// TestProxy: the proxy is --proxy if given, else HTTPS_PROXY, except for
// hosts in NO_PROXY (FAQ 2.2).
func TestProxy(t *testing.T) {
	proxy, seen := recordingProxy(t)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	post(t, portalclient.Config{URL: "https://portal.example:8443", Proxy: proxy, Getenv: env(nil)})
	post(t, portalclient.Config{URL: "https://env.example", Getenv: env(map[string]string{"HTTPS_PROXY": proxy})})
	post(t, portalclient.Config{URL: "https://lower.example", Getenv: env(map[string]string{"https_proxy": proxy})})
	// NO_PROXY: the proxy is not used, so the direct dial fails instead.
	dials := 0
	_, err := post(t, portalclient.Config{URL: "https://portal.internal", Getenv: env(map[string]string{"HTTPS_PROXY": proxy, "NO_PROXY": ".internal"}),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials++
			if addr != "portal.internal:443" {
				t.Errorf("direct dial to %s", addr)
			}
			return nil, errors.New("no network in this test")
		}})
	if dials != 1 || !errors.Is(err, portalclient.ErrUnreachable) {
		t.Fatalf("NO_PROXY: %d dials, %v", dials, err)
	}
	want := []string{"CONNECT portal.example:8443", "CONNECT env.example:443", "CONNECT lower.example:443"}
	if got := seen(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("proxy saw %q, want %q", got, want)
	}
	if _, err := portalclient.New(portalclient.Config{URL: "https://x.example", Proxy: "ftp://p"}); err == nil {
		t.Fatal("refused: an ftp proxy")
	}
}
