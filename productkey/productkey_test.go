package productkey_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/productkey"
	"github.com/oat-toolkit/oat/signing"
)

var update = flag.Bool("update", false, "rewrite the vectors in ../testdata/productkey")

const vectorDir = "../testdata/productkey"

// The vectors' keys, as in testdata/vectors/seeds.txt. They protect nothing.
var (
	vendor   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x11}, 32))
	stranger = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x33}, 32))
	trust    = keys.NewTrustSet(vendor.Public().(ed25519.PublicKey))
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func serial(b byte) productkey.Serial {
	var s productkey.Serial
	for i := range s {
		s[i] = b
	}
	return s
}

func mustGenerate(t testing.TB, priv ed25519.PrivateKey, k productkey.Key) string {
	t.Helper()
	s, err := productkey.Generate(priv, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	perpetual = productkey.Key{Product: "replica-server", Serial: serial(1), Issued: date("2026-01-15"), Seat: 1}
	guest     = productkey.Key{Product: "replica-virtual", Serial: serial(2), Issued: date("2026-01-15"), Seat: 3, Guest: 42}
	agents    = productkey.Key{Product: "backup-agent-host", Serial: serial(3), Issued: date("2026-01-15"), Seat: 1, Agents: productkey.AgentsPerHost}
	sub       = productkey.Key{Product: "replica-server", Serial: serial(4), Issued: date("2026-01-15"), Expires: date("2027-01-15"), Seat: 2}
)

// reencode re-signs nothing: it rewrites a key's bytes with f and fixes up
// the checksum, to make keys whose checksum matches but whose content or
// signature is wrong.
func reencode(t testing.TB, text string, f func(b []byte) []byte) string {
	t.Helper()
	enc := base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)
	b, err := enc.DecodeString(strings.ReplaceAll(text, "-", ""))
	if err != nil {
		t.Fatal(err)
	}
	body := f(append([]byte(nil), b[:len(b)-4]...))
	body = binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	s := enc.EncodeToString(body)
	var out []string
	for len(s) > 5 {
		out, s = append(out, s[:5]), s[5:]
	}
	return strings.Join(append(out, s), "-")
}

func TestRoundTrip(t *testing.T) {
	for _, k := range []productkey.Key{perpetual, guest, agents, sub} {
		text := mustGenerate(t, vendor, k)
		if len(text) > productkey.MaxLen {
			t.Errorf("%s: %d characters, MaxLen is %d", k.Product, len(text), productkey.MaxLen)
		}
		got, err := productkey.Verify(text, trust)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if *got != k {
			t.Errorf("round trip: got %+v, want %+v", *got, k)
		}
		if err := got.Check(k.Product, date("2026-06-01")); err != nil {
			t.Errorf("Check: %v", err)
		}
	}
}

// TestRuleA22_ProductKeys: the desk's signed key unlocks its product on a
// machine with no network; a typo, a forgery, another vendor's key,
// another product and an ended subscription are each refused with the
// message the admin sees.
func TestRuleA22_ProductKeys(t *testing.T) {
	good := mustGenerate(t, vendor, perpetual)
	now := date("2026-06-01")
	flip := []byte(good)
	if flip[7] == 'A' {
		flip[7] = 'B'
	} else {
		flip[7] = 'A'
	}
	tests := []struct {
		name    string
		text    string
		product string
		wantErr error
		msg     string
	}{
		{"allowed: as generated", good, "replica-server", nil, ""},
		{"allowed: lower case, spaces, O for 0 and l for 1",
			strings.NewReplacer("0", "o", "1", "l", "-", " ").Replace(strings.ToLower(good)), "replica-server", nil, ""},
		{"allowed: guest key of a host license", mustGenerate(t, vendor, guest), "replica-virtual", nil, ""},
		{"allowed: subscription before its end", mustGenerate(t, vendor, sub), "replica-server", nil, ""},
		{"refused: one character mistyped", string(flip), "replica-server", productkey.ErrMistyped,
			"product key is mistyped: the checksum does not match; compare each group of five with the original"},
		{"refused: a U typed", "U" + good[1:], "replica-server", productkey.ErrMistyped,
			`product key is mistyped: character 'U' at position 1 is not used in product keys`},
		{"refused: a group missing", good[6:], "replica-server", productkey.ErrMistyped, ""},
		{"refused: empty", " - ", "replica-server", productkey.ErrMistyped, "product key is mistyped: it is empty"},
		{"refused: another vendor's key", mustGenerate(t, stranger, perpetual), "replica-server", keys.ErrUntrusted,
			"product key signed by key " + keys.KeyID(stranger.Public().(ed25519.PublicKey)).String() + ": signed by a key that is not trusted"},
		{"refused: a field changed (seat 1 → 9)", reencode(t, good, func(b []byte) []byte {
			b[1+8+8+4+1] = 9
			return b
		}), "replica-server", signing.ErrSignature,
			"product key: signature does not verify: the file was altered or signed by another key"},
		{"refused: a newer format", reencode(t, good, func(b []byte) []byte { b[0] = 2; return b }), "replica-server",
			productkey.ErrFormat, "not a valid product key: version 2, this oat reads version 1"},
		{"refused: another product", good, "backup-server", productkey.ErrProduct,
			"product key is for another product: it is for replica-server, not backup-server"},
		{"refused: subscription ended", mustGenerate(t, vendor, sub), "replica-server", nil, ""},
	}
	// The last row's time is after the subscription; patch it in the loop.
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			wantErr, msg := tt.wantErr, tt.msg
			if i == len(tests)-1 {
				at = date("2027-01-16")
				wantErr = productkey.ErrExpired
				msg = "product key has expired: it was valid until 2027-01-15; renew the subscription at the license desk"
			}
			k, err := productkey.Verify(tt.text, trust)
			if err == nil {
				err = k.Check(tt.product, at)
			}
			if wantErr == nil {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				return
			}
			if !errors.Is(err, wantErr) {
				t.Fatalf("got %v, want %v", err, wantErr)
			}
			if msg != "" && err.Error() != msg {
				t.Errorf("message:\n got %q\nwant %q", err.Error(), msg)
			}
		})
	}
}

// TestRuleA22_HostCarries100GuestKeys: one per-virtual-host license of the
// replication product is 100 distinct guest keys, numbered 1..100.
func TestRuleA22_HostCarries100GuestKeys(t *testing.T) {
	base := productkey.Key{Product: "replica-virtual", Issued: date("2026-01-15"), Seat: 1}
	ks, err := productkey.HostKeys(vendor, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 100 {
		t.Fatalf("%d keys, want 100", len(ks))
	}
	serials := map[productkey.Serial]bool{}
	for i, text := range ks {
		k, err := productkey.Verify(text, trust)
		if err != nil {
			t.Fatal(err)
		}
		if int(k.Guest) != i+1 || k.Seat != 1 || serials[k.Serial] {
			t.Fatalf("key %d: guest %d seat %d, serial seen before %v", i, k.Guest, k.Seat, serials[k.Serial])
		}
		serials[k.Serial] = true
	}
	// A 101st guest does not exist: the desk is asked for more (seed 001 §4.9).
	_, err = productkey.Generate(vendor, productkey.Key{Product: "replica-virtual", Issued: date("2026-01-15"), Seat: 1, Guest: 101})
	if err == nil || err.Error() != "product key: guest key 101 is beyond the 100 of a host license" {
		t.Fatalf("guest 101: %v", err)
	}
}

// TestRuleA27_AgentsPerHost: a per-host agent license's key says it
// includes 50 agent licenses.
func TestRuleA27_AgentsPerHost(t *testing.T) {
	k, err := productkey.Verify(mustGenerate(t, vendor, agents), trust)
	if err != nil {
		t.Fatal(err)
	}
	if k.Agents != 50 {
		t.Fatalf("agents %d, want 50", k.Agents)
	}
}

func TestGenerateRefuses(t *testing.T) {
	for _, tt := range []struct {
		k   productkey.Key
		msg string
	}{
		{productkey.Key{Issued: date("2026-01-01"), Seat: 1}, "product key: product code must be 1 to 32 characters"},
		{productkey.Key{Product: "Replica", Issued: date("2026-01-01"), Seat: 1}, `product key: product code "Replica" may hold only a-z, 0-9 and -`},
		{productkey.Key{Product: "replica-server", Issued: date("2026-01-01")}, "product key: seat must be 1 or more"},
		{productkey.Key{Product: "replica-server", Seat: 1}, "product key: issue date is missing"},
		{productkey.Key{Product: "replica-server", Seat: 1, Issued: date("2026-01-02"), Expires: date("2026-01-01")}, "product key: expiry must not be before the issue date"},
		{productkey.Key{Product: "replica-server", Seat: 1, Issued: date("2200-01-01")}, "product key: issue date 2200-01-01 is outside 1970-01-02..2149-06-06"},
	} {
		if _, err := productkey.Generate(vendor, tt.k); err == nil || err.Error() != tt.msg {
			t.Errorf("%+v: got %v, want %q", tt.k, err, tt.msg)
		}
	}
}

func TestEqual(t *testing.T) {
	a := mustGenerate(t, vendor, perpetual)
	if !productkey.Equal(a, strings.ToLower(strings.ReplaceAll(a, "-", " "))) {
		t.Error("same key typed differently is not Equal")
	}
	if productkey.Equal(a, mustGenerate(t, vendor, sub)) {
		t.Error("different keys are Equal")
	}
}

// vector is one entry of testdata/productkey/manifest.json.
type vector struct {
	File    string `json:"file"`
	Product string `json:"product"`
	Now     string `json:"now"`
	Expect  string `json:"expect"`          // valid or invalid
	Error   string `json:"error,omitempty"` // mistyped, format, untrusted, signature, product, expired
	Why     string `json:"why"`
}

var classes = map[string]error{
	"mistyped":  productkey.ErrMistyped,
	"format":    productkey.ErrFormat,
	"untrusted": keys.ErrUntrusted,
	"signature": signing.ErrSignature,
	"product":   productkey.ErrProduct,
	"expired":   productkey.ErrExpired,
}

func writeVectors(t *testing.T) {
	good := mustGenerate(t, vendor, perpetual)
	files := map[string]string{
		"key-perpetual.txt":    good,
		"key-guest.txt":        mustGenerate(t, vendor, guest),
		"key-agents.txt":       mustGenerate(t, vendor, agents),
		"key-subscription.txt": mustGenerate(t, vendor, sub),
		"key-typed.txt":        strings.NewReplacer("0", "o", "1", "l", "-", " ").Replace(strings.ToLower(good)),
		"key-typo.txt":         good[:3] + map[bool]string{true: "Y", false: "Z"}[good[3] == 'Z'] + good[4:],
		"key-stranger.txt":     mustGenerate(t, stranger, perpetual),
		"key-forged-seat.txt":  reencode(t, good, func(b []byte) []byte { b[1+8+8+4+1] = 9; return b }),
		"key-version-2.txt":    reencode(t, good, func(b []byte) []byte { b[0] = 2; return b }),
	}
	if files["key-typo.txt"][3] == good[3] {
		t.Fatal("typo vector is not a typo")
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(vectorDir, name), []byte(text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vectorDir, "vendor.pub"), keys.MarshalPublicKey(vendor.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVectors checks the product key vectors of doc/format.md §11 (the
// keys are the same seeds as testdata/vectors/seeds.txt).
func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	raw, err := os.ReadFile(filepath.Join(vectorDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	pubData, err := os.ReadFile(filepath.Join(vectorDir, "vendor.pub"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := keys.ParseTrustSet(pubData)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.File] = true
		data, err := os.ReadFile(filepath.Join(vectorDir, v.File))
		if err != nil {
			t.Fatal(err)
		}
		k, err := productkey.Verify(string(data), ts)
		if err == nil {
			err = k.Check(v.Product, date(v.Now))
		}
		switch v.Expect {
		case "valid":
			if err != nil {
				t.Errorf("%s: %v", v.File, err)
			}
		case "invalid":
			if want := classes[v.Error]; want == nil || !errors.Is(err, want) {
				t.Errorf("%s: got %v, want class %s", v.File, err, v.Error)
			}
		default:
			t.Errorf("%s: expect %q", v.File, v.Expect)
		}
	}
	entries, _ := os.ReadDir(vectorDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "key-") && !seen[e.Name()] {
			t.Errorf("%s is not in the manifest", e.Name())
		}
	}
}

func TestSerialString(t *testing.T) {
	if got := serial(0xab).String(); got != hex.EncodeToString(bytes.Repeat([]byte{0xab}, 8)) {
		t.Error(got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(mustGenerate(f, vendor, perpetual))
	f.Add(mustGenerate(f, vendor, guest))
	f.Add("0000-0")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		tok, err := productkey.Parse(text)
		if err != nil {
			if !errors.Is(err, productkey.ErrMistyped) && !errors.Is(err, productkey.ErrFormat) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// Whatever parses must verify only if it is exactly what the vendor signed.
		if tok.Verify(trust) == nil {
			again := mustGenerate(t, vendor, tok.Key)
			if !productkey.Equal(again, text) {
				t.Fatalf("a key that verifies has a second spelling: %q vs %q", text, again)
			}
		}
	})
}
