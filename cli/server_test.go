package cli

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

func init() {
	testCommands["oat-testsign"] = func() { os.Exit(testSign(os.Args[1:])) }
	testCommands["oat-mangle"] = func() { os.Exit(testMangle(os.Args[1:])) }
}

// TestScriptsServer runs the admin's sessions in testdata/server.
func TestScriptsServer(t *testing.T) {
	runScripts(t, "server", func(e *testscript.Env) error {
		e.Setenv("OAT_PASSPHRASE", "correct horse battery")
		// The race detector sleeps a second at every exit by default.
		e.Setenv("GORACE", "atexit_sleep_ms=0")
		return nil
	})
}

// testSign is a stand-in license desk for scripts, present only in the
// test binary: it answers a request file with a license signed by a vendor
// key (passphrase from OAT_PASSPHRASE).
//
//	oat-testsign -key V.key -request REQ -out LIC [-seq N] [-update] [-activation ID]
//	    [-expires DURATION] [-file-expires DURATION] [-not-before DURATION] [-model CODE=MODEL]...
//
// Durations are relative to now and may be negative. Without -model, each
// requested product's model is the part of its code after the first '-'.
func testSign(args []string) int {
	fs := flag.NewFlagSet("oat-testsign", flag.ContinueOnError)
	keyPath := fs.String("key", "", "vendor private key")
	reqPath := fs.String("request", "", "request file")
	out := fs.String("out", "", "license file to write")
	seq := fs.Uint64("seq", 1, "sequence number")
	update := fs.Bool("update", false, "an update: no nonce")
	activation := fs.String("activation", "act-1", "activation ID")
	expires := fs.Duration("expires", 0, "subscription end of every product, relative to now")
	fileExpires := fs.Duration("file-expires", 0, "the license file's exp, relative to now")
	notBefore := fs.Duration("not-before", -time.Hour, "nbf relative to now")
	models := map[string]string{}
	fs.Func("model", "CODE=MODEL", func(s string) error {
		code, model, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want CODE=MODEL")
		}
		models[code] = model
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "oat-testsign:", err); return 1 }
	priv, err := keys.LoadPrivateKey(*keyPath, []byte(os.Getenv("OAT_PASSPHRASE")))
	if err != nil {
		return fail(err)
	}
	data, err := os.ReadFile(*reqPath)
	if err != nil {
		return fail(err)
	}
	r, _, err := request.Parse(data)
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	id := make([]byte, 16)
	rand.Read(id)
	l := response.License{
		Issuer: "test desk", Activation: *activation, NotBefore: now.Add(*notBefore).Unix(), IssuedAt: now.Unix(),
		ID: id, Confirm: r.Confirm, Sequence: *seq, Host: r.Host, Machine: r.Machine,
	}
	if !*update {
		l.Nonce = r.Nonce
	}
	if *fileExpires != 0 {
		l.Expires = now.Add(*fileExpires).Unix()
	}
	codes := r.Products
	for code := range models {
		if !strings.Contains(" "+strings.Join(codes, " ")+" ", " "+code+" ") {
			codes = append(codes, code)
		}
	}
	for _, code := range codes {
		model := models[code]
		if model == "" {
			_, model, _ = strings.Cut(code, "-")
		}
		e := response.Entitlement{Code: code, Order: r.Order, Fulfillment: r.Fulfillment, Model: model, Seats: 1}
		if *expires != 0 {
			e.Expires = now.Add(*expires).Unix()
		}
		l.Products = append(l.Products, e)
	}
	lic, err := response.Seal(l, priv)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(*out, lic, 0o644); err != nil {
		return fail(err)
	}
	return 0
}

// testMangle damages a file the ways the install tests need:
//
//	oat-mangle tamper|truncate|oversize|raw IN OUT
func testMangle(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: oat-mangle tamper|truncate|oversize|raw IN OUT")
		return 2
	}
	data, err := os.ReadFile(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch args[0] {
	case "tamper": // change one byte of the signed claims, keep the armor valid
		m, err := signing.Parse(data)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		raw := bytes.Clone(m.Raw())
		i := bytes.Index(raw, []byte("test desk"))
		raw[i] = 'b'
		data = signing.Armor(m.Kind, raw)
	case "truncate":
		data = data[:len(data)/2]
	case "oversize":
		data = append(data, bytes.Repeat([]byte("\n"), signing.MaxFileSize)...)
	case "raw":
		m, err := signing.Parse(data)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		data = m.Raw()
	default:
		fmt.Fprintln(os.Stderr, "unknown mangle", args[0])
		return 2
	}
	if err := os.WriteFile(args[2], data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
