package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/store"
)

func init() {
	testCommands["oat-offline-receipt"] = func() { os.Exit(offlineReceipt(os.Args[1:])) }
}

// offlineReceipt is a test-only helper: `oat-offline-receipt STORE OUT`
// signs, with the store's installation key, the offline release receipt
// that oat deactivate refuses to write for an online activation, so that
// scripts can show the desk refusing it too (FAQ 3.11).
func offlineReceipt(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oat-offline-receipt STORE OUT")
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "oat-offline-receipt:", err); return 1 }
	s, err := store.Open(args[0], store.Options{Root: os.Getenv("OAT_SYSROOT")})
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	in := s.Installed()
	if in == nil {
		return fail(store.ErrNoLicense)
	}
	priv, err := keys.LoadPrivateKey(filepath.Join(args[0], store.KeyFile), []byte(os.Getenv("OAT_PASSPHRASE")))
	if err != nil {
		return fail(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	data, err := release.Seal(release.Receipt{Activation: in.Activation, IssuedAt: time.Now().Unix(), ID: id,
		Sequence: in.Sequence, License: in.ID, Host: "carried by hand"}, priv)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(args[1], data, 0o644); err != nil {
		return fail(err)
	}
	return 0
}

// freePort returns a loopback port that was free a moment ago, for an oat
// portal started in a script's background.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// onlineCmds are the scripts' commands that need the test process: waiting
// for a portal, and a connection that drops the portal's answers.
var onlineCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// waitportal URL: wait until the portal at URL answers /healthz.
	"waitportal": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: waitportal URL")
		}
		for range 300 {
			res, err := http.Get(args[0] + "/healthz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		ts.Fatalf("no portal answers at %s", args[0])
	},
	// dropproxy VAR URL: listen on a loopback port, put it in $VAR, and
	// forward each request to the portal at URL, then drop the connection
	// without the answer: the desk did its work, the server never hears.
	"dropproxy": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: dropproxy VAR URL")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ts.Defer(func() { ln.Close() })
		ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		target := args[1]
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
					body, _ := io.ReadAll(req.Body)
					res, err := http.Post(target+req.URL.Path, req.Header.Get("Content-Type"), bytes.NewReader(body))
					if err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}()
			}
		}()
	},
}

// TestScriptsOnline runs the online flow in testdata/online as typed,
// against a real oat portal over loopback, once per ledger database.
func TestScriptsOnline(t *testing.T) {
	t.Parallel()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testscript.Run(t, testscript.Params{
				Dir:  "testdata/online",
				Cmds: onlineCmds,
				Setup: func(e *testscript.Env) error {
					dsn := filepath.Join(e.WorkDir, "desk.db")
					if b.Name == "postgres" {
						dsn = ledgertest.PostgresSchema(t, os.Getenv("OAT_TEST_POSTGRES"))
					}
					port, err := freePort()
					if err != nil {
						return err
					}
					e.Setenv("DB", dsn)
					e.Setenv("PORT", port)
					e.Setenv("PORTAL", "http://127.0.0.1:"+port)
					e.Setenv("OAT_PASSPHRASE", "online test passphrase")
					e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
					e.Setenv("MACHINES", copyMachines(e))
					e.Setenv("GORACE", "atexit_sleep_ms=0")
					// No proxy from the environment running the tests.
					for _, v := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
						e.Setenv(v, "")
					}
					return nil
				},
			})
		})
	}
}
