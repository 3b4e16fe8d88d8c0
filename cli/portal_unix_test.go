//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"io"
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

// TestPortalServes starts oat portal as typed, talks to it, and stops it
// with SIGINT as a service manager would: it must shut down cleanly.
func TestPortalServes(t *testing.T) {
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
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("a-staff-token-for-the-test\n"), 0o600)

	outR, outW := io.Pipe()
	var logs syncBuf
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"oat", "portal", "--db", db, "--key", filepath.Join(dir, "vendor.key"), "--listen", "127.0.0.1:0",
			"--staff-token-file", tokenFile}, strings.NewReader(""), outW, &logs)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	if !lines.Scan() {
		t.Fatalf("no output; log: %s", logs.String())
	}
	m := regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("first line %q", lines.Text())
	}
	base := m[1]
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
	req.Header.Set("Authorization", "Bearer a-staff-token-for-the-test")
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 404 {
		t.Fatalf("staff API: %v %v", res, err)
	}
	res.Body.Close()

	syscall.Kill(os.Getpid(), syscall.SIGINT)
	go io.Copy(io.Discard, outR)
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d; log: %s", c, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("oat portal did not stop on SIGINT")
	}
	l := logs.String()
	if !strings.Contains(l, `"path":"/v1/activations"`) || !strings.Contains(l, `"status":400`) {
		t.Errorf("access log: %s", l)
	}
	if strings.Contains(l, "a-staff-token-for-the-test") || strings.Contains(l, "vendor passphrase") {
		t.Error("a secret is in the log")
	}
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
