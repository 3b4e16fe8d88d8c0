package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

func init() {
	testCommands["oat-withact"] = func() { os.Exit(withActivation(os.Args[1:])) }
	testCommands["oat-cheapkey"] = func() { os.Exit(cheapKey(os.Args[1:])) }
}

// cheapKey is a test-only helper: `oat-cheapkey PREFIX` writes a vendor key
// pair like `oat keys generate`, encrypted with $OAT_PASSPHRASE under a
// cheap KDF, so that scripts that load the key many times stay fast.
func cheapKey(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: oat-cheapkey PREFIX")
		return 2
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	enc, err := keys.EncryptPrivateKey(priv, []byte(os.Getenv("OAT_PASSPHRASE")), keys.KDFParams{Time: 1, Memory: 64, Threads: 1})
	if err == nil {
		err = os.WriteFile(args[0]+".key", enc, 0o600)
	}
	if err == nil {
		err = os.WriteFile(args[0]+".pub", keys.MarshalPublicKey(pub), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// withActivation is a test-only helper for scripts: `oat-withact SHOW.json
// oat ARGS...` runs oat with @ACT in ARGS replaced by the first active
// activation in the output of `oat desk show --json`.
func withActivation(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oat-withact SHOW.json oat ARGS...")
		return 2
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var v desk.OrderView
	if err := json.Unmarshal(data, &v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id := ""
	for _, a := range v.Activations {
		if a.State == "active" && id == "" {
			id = a.ID
		}
	}
	if id == "" {
		fmt.Fprintln(os.Stderr, "no active activation in", args[0])
		return 1
	}
	run := append([]string(nil), args[1:]...)
	for i := range run {
		run[i] = strings.ReplaceAll(run[i], "@ACT", id)
	}
	return Main(run, os.Stdin, os.Stdout, os.Stderr)
}

// TestScriptsDesk runs the desk's sessions in testdata/desk as typed, once
// per ledger database: $DB is a SQLite file, or a fresh PostgreSQL schema
// when $OAT_TEST_POSTGRES is set.
func TestScriptsDesk(t *testing.T) {
	t.Parallel()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			runScripts(t, "desk", func(e *testscript.Env) error {
				dsn := "desk.db"
				if b.Name == "postgres" {
					dsn = ledgertest.PostgresSchema(t, os.Getenv("OAT_TEST_POSTGRES"))
				}
				e.Setenv("DB", dsn)
				e.Setenv("OAT_PASSPHRASE", "desk test passphrase")
				e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
				e.Setenv("ORDERS", mustAbs("../examples/orders.json"))
				e.Setenv("MACHINES", copyMachines(e))
				e.Setenv("GORACE", "atexit_sleep_ms=0")
				return nil
			})
		})
	}
}

// TestDemo runs `oat demo` and checks that every step of the flow ran.
func TestDemo(t *testing.T) {
	// Not parallel: it runs oat in this process, and urfave/cli writes its
	// package-level help flag on every parse, so two in-process runs at once
	// race (a real oat process runs one command).
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errOut bytes.Buffer
	// The demo must not need the caller's passphrase or machine.
	code := Main([]string{"oat", "demo", "--dir", dir}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("oat demo exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{
		"$ oat keys generate --out vendor",
		"$ oat desk init --db desk.db --catalog catalog.json",
		"order ORD-1001: 2 × backup-server (perpetual)",
		"$ oat request --store server/store",
		"activation.license: activation act-",
		"license 1 (new activation), host demo-srv01: backup-server, replica-server",
		"copied to 2 product(s): backup-server, replica-server",
		"license 2 (updated), host demo-srv01: backup-server, backup-virtual, replica-server",
		"it supersedes license 1",
		"wrote release receipt release.receipt",
		`backup-server, replica-server, backup-virtual back in "Default (Unassigned Licenses)"`,
		"backup-server   server  2      0     2",
		"Done: every step above was a real oat command.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), demoPassphrase) {
		t.Error("the demo prints its passphrase")
	}
	if t.Failed() {
		t.Log(out.String())
	}
	// It refuses a directory that is in use.
	if code := Main([]string{"oat", "demo", "--dir", dir}, strings.NewReader(""), &out, &errOut); code == 0 {
		t.Error("demo ran in a non-empty directory")
	}
}
