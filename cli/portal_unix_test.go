//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runningPortal is oat portal started as typed, in this process.
type runningPortal struct {
	base string
	logs *syncBuf
	code chan int
	out  io.Reader
}

// startPortal sets up a vendor key, a ledger with a staff member Hanako,
// and starts oat portal with the extra flags; scheme is what it should
// say it serves.
func startPortal(t *testing.T, scheme string, extra ...string) (*runningPortal, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("OAT_PASSPHRASE", "vendor passphrase")
	run := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := Main(append([]string{"oat"}, args...), strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("oat %v: %d %s", args, code, out.String())
		}
	}
	run("keys", "generate", "--out", filepath.Join(dir, "vendor"))
	db := filepath.Join(dir, "ledger.db")
	run("desk", "init", "--db", db, "--catalog", mustAbs("../examples/catalog.json"))
	pwFile := filepath.Join(dir, "hanako.pw")
	os.WriteFile(pwFile, []byte("Hanako's own password\n"), 0o600)
	run("desk", "staff", "add", "--db", db, "--name", "Hanako", "--passphrase-file", pwFile)

	outR, outW := io.Pipe()
	p := &runningPortal{logs: &syncBuf{}, code: make(chan int, 1), out: outR}
	go func() {
		p.code <- Main(append([]string{"oat", "portal", "--db", db, "--key", filepath.Join(dir, "vendor.key"), "--listen", "127.0.0.1:0",
			"--staff"}, extra...), strings.NewReader(""), outW, p.logs)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	if !lines.Scan() {
		t.Fatalf("no output; log: %s", p.logs.String())
	}
	m := regexp.MustCompile(`serving (` + scheme + `://127\.0\.0\.1:\d+)`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("first line %q", lines.Text())
	}
	p.base = m[1]
	return p, dir
}

// stop sends SIGINT, as a service manager would: the portal must shut
// down cleanly.
func (p *runningPortal) stop(t *testing.T) {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	go io.Copy(io.Discard, p.out)
	select {
	case c := <-p.code:
		if c != 0 {
			t.Fatalf("exit %d; log: %s", c, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("oat portal did not stop on SIGINT")
	}
}

// TestPortalServes starts oat portal as typed, talks to it, signs in to
// the staff API as a named member, and stops it with SIGINT.
func TestPortalServes(t *testing.T) {
	p, _ := startPortal(t, "http")
	base := p.base
	res, err := http.Get(base + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Post(base+"/v1/activations", "text/plain", strings.NewReader("not a request"))
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("POST junk: %v %v", res, err)
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", base+"/v1/orders/ORD-X", nil)
	req.SetBasicAuth("Hanako", "Hanako's own password")
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 404 {
		t.Fatalf("staff API: %v %v", res, err)
	}
	res.Body.Close()
	req.SetBasicAuth("Hanako", "a wrong password")
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("staff API, wrong password: %v %v", res, err)
	}
	res.Body.Close()

	p.stop(t)
	l := p.logs.String()
	if !strings.Contains(l, `"path":"/v1/activations"`) || !strings.Contains(l, `"status":400`) {
		t.Errorf("access log: %s", l)
	}
	if strings.Contains(l, "own password") || strings.Contains(l, "vendor passphrase") {
		t.Error("a secret is in the log")
	}
}

// TestPortalServesTLS: with --tls-cert and --tls-key the portal serves
// HTTPS itself, here with a certificate made for the test, on loopback;
// behind --trusted-proxy the log names the client the proxy forwards.
func TestPortalServesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeTestCert(t, cert, key)
	p, _ := startPortal(t, "https", "--tls-cert", cert, "--tls-key", key, "--trusted-proxy", "127.0.0.1")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", p.base+"/healthz", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.77")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /healthz over TLS: %d, TLS %v, HSTS %q", res.StatusCode, res.TLS != nil, res.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if res, err := http.Get(strings.Replace(p.base, "https://", "http://", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	}
	p.stop(t)
	if l := p.logs.String(); !strings.Contains(l, `"client":"198.51.100.77"`) {
		t.Errorf("the log does not name the forwarded client: %s", l)
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its
// key, and returns a pool that trusts it.
func writeTestCert(t *testing.T, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oat test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}

// syncBuf is a buffer written by the server goroutine and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
