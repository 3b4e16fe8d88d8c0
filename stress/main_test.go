// Package stress runs oat as separate processes and is hard on them: it
// kills `oat install`, `oat deactivate` and `oat desk issue` at random
// moments and checks that the store and the ledger are always before or
// after the operation, never in between (S4), and it runs many desk
// processes against shared orders and checks that no seat is ever sold
// twice and that the audit log replays to the ledger's state (S3).
//
// The oat processes are this test binary itself, re-executed with
// OAT_STRESS_CHILD=1, so that they run the code under test (with the race
// detector when the test has it) and need no separate build.
package stress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/cli"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/examples"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/request"
)

func TestMain(m *testing.M) {
	if os.Getenv("OAT_STRESS_CHILD") == "1" {
		os.Exit(cli.Main(append([]string{"oat"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

var ctx = context.Background()

// passphrase protects every key in these tests; cheap keeps the KDF from
// dominating hundreds of short processes (the format records the cost).
const passphrase = "stress test passphrase"

var cheap = keys.KDFParams{Time: 1, Memory: 64, Threads: 1}

// child returns an oat command with the test's environment.
func child(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	// GORACE: a race-enabled process otherwise sleeps a second at exit.
	cmd.Env = append(os.Environ(), "OAT_STRESS_CHILD=1", "OAT_PASSPHRASE="+passphrase, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runKilled runs oat and sends it SIGKILL after delay unless it finished.
// It reports whether the kill happened before the process exited.
func runKilled(t *testing.T, delay time.Duration, env []string, args ...string) (killed bool, out []byte, err error) {
	t.Helper()
	cmd := child(env, args...)
	var buf limitedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
	err = cmd.Wait()
	timer.Stop()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true, buf.b, err
	}
	return false, buf.b, err
}

// run runs oat to completion and returns its output.
func run(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	return child(env, args...).CombinedOutput()
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 64<<10 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

// vendorKey writes PREFIX.key (cheap KDF) and PREFIX.pub.
func vendorKey(t *testing.T, prefix string) ed25519.PrivateKey {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sealed, err := keys.EncryptPrivateKey(priv, []byte(passphrase), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".key", sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".pub", keys.MarshalPublicKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv
}

// newDesk initializes a ledger at dsn with the example catalog.
func newDesk(t *testing.T, dsn string) (*desk.Desk, *ledger.DB) {
	t.Helper()
	db, err := ledger.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := desk.ParseCatalog(examples.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := desk.Init(ctx, db, cat); err != nil {
		t.Fatal(err)
	}
	return desk.New(db, desk.Options{}), db
}

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot is the content of some directory trees, to put back.
type snapshot map[string][]byte

func take(t *testing.T, dirs ...string) snapshot {
	t.Helper()
	s := snapshot{}
	for _, dir := range dirs {
		s[dir+string(filepath.Separator)] = nil // the directory itself
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			s[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// restore makes the trees exactly the snapshot again.
func (s snapshot) restore(t *testing.T) {
	t.Helper()
	for p, b := range s {
		if b == nil && p[len(p)-1] == filepath.Separator {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, b := range s {
		if b == nil && p[len(p)-1] == filepath.Separator {
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		mode := os.FileMode(0o644)
		if filepath.Ext(p) == ".key" {
			mode = 0o600
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// newRequest is a request from a fresh installation on a fresh machine.
func newRequest(t testing.TB, order, fn, email string, products ...string) ([]byte, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := func() []byte {
		b := make([]byte, machine.DigestSize)
		rand.Read(b)
		return b
	}
	nonce := make([]byte, request.NonceSize)
	rand.Read(nonce)
	fp := machine.Fingerprint{Salt: d(), GUID: d(), UUID: d(), Serial: d(), MACs: [][]byte{d()}, OS: "linux", Class: "server"}
	data, err := request.Seal(request.Request{IssuedAt: time.Now().Unix(), Nonce: nonce, Order: order, Fulfillment: fn,
		Email: email, Products: products, Host: fmt.Sprintf("host-%x", d()[:4]), Machine: fp}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return data, priv
}
