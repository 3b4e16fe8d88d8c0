package examples_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tool returns the path of a syntax checker, or skips the test when it is
// not installed. Under CI, which installs it, a missing one fails.
func tool(t *testing.T, name string, inCI bool) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		path, err = exec.LookPath("/usr/sbin/" + name)
	}
	if err != nil {
		if inCI && os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI installs it", name)
		}
		t.Skipf("%s is not installed; skipping the syntax check", name)
	}
	return path
}

// TestSystemdUnit checks examples/deploy/oat-portal.service with
// systemd-analyze verify: any complaint (an unknown key, a bad value)
// fails. The oat binary's path is pointed at an executable that exists
// here; the rest of the unit is checked as shipped.
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze", false)
	unit, err := os.ReadFile(filepath.Join("deploy", "oat-portal.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/oat portal") {
		t.Fatal("the unit does not start /usr/local/bin/oat portal")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "oat-portal.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/oat", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestNginxConfig checks examples/deploy/nginx-oat-portal.conf with
// nginx -t, included in a minimal nginx.conf the way conf.d files are, with
// the certificate paths pointed at a certificate made here.
func TestNginxConfig(t *testing.T) {
	nginx := tool(t, "nginx", true)
	conf, err := os.ReadFile(filepath.Join("deploy", "nginx-oat-portal.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key)
	s := string(conf)
	for old, new := range map[string]string{
		"/etc/ssl/certs/licenses.example.com.pem":   cert,
		"/etc/ssl/private/licenses.example.com.key": key,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("the example has no %s", old)
		}
		s = strings.ReplaceAll(s, old, new)
	}
	site := filepath.Join(dir, "oat-portal.conf")
	if err := os.WriteFile(site, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte("pid "+filepath.Join(dir, "nginx.pid")+";\nerror_log stderr;\n"+
		"events {}\nhttp {\n  access_log off;\n  include "+site+";\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-c", main).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if o := strings.TrimSpace(string(out)); o != "" {
		t.Fatalf("nginx -t warns:\n%s", o)
	}
}

func writeCert(t *testing.T, certPath, keyPath string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "licenses.example.com"},
		DNSNames: []string{"licenses.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
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
}
