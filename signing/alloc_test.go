package signing_test

import (
	"bytes"
	"encoding/base64"
	mrand "math/rand/v2"
	"runtime"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// allocBound is the most a decoder may allocate while rejecting or reading
// an input of at most 1 KiB. Parsing a genuine file of that size takes
// about a third of it (the figures are logged), so the bound is loose for
// honest input and still rules out any allocation driven by a length, a
// count or a depth the input declares.
const allocBound = 32 << 10

// bytesAllocated returns the heap bytes f allocates, averaged over runs.
func bytesAllocated(runs int, f func()) uint64 {
	f() // warm up lazily built state
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// hostileInputs are inputs of at most 1 KiB: the crafted ones, genuine
// files cut to 1 KiB, and random bytes behind valid prefixes (the COSE tag
// and array, armor lines) so that they reach deep into the decoders.
func hostileInputs(t *testing.T) [][]byte {
	s, err := forge.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	var in [][]byte
	add := func(b []byte) {
		if len(b) > 1024 {
			b = b[:1024]
		}
		in = append(in, b)
	}
	for _, b := range forge.Hostile() {
		add(b)
	}
	for _, b := range s.Seeds() {
		add(b)
		if m, err := signing.Parse(b); err == nil {
			add(m.Payload)
		}
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for range 300 {
		add(random(1024))
		add(append([]byte{0xd2, 0x84}, random(1022)...))
		add(append([]byte{0xd2, 0x84, 0x58, 0x30}, random(1020)...))
		add(forge.Armor("OAT LICENSE", append([]byte{0xd2, 0x84}, random(700)...)))
		// A payload of random CBOR heads with random large arguments.
		var p []byte
		for len(p) < 1000 {
			p = append(p, forge.Head(byte(rng.IntN(8)), rng.Uint64()>>rng.IntN(64))...)
		}
		add(p)
		add(forge.Sign1(forge.Protected(forge.AlgEdDSA, forge.RequestType, make([]byte, 8)), p[:900], make([]byte, 64)))
	}
	// Base64 that decodes to a message declaring huge lengths.
	b64 := base64.StdEncoding.EncodeToString(append([]byte{0xd2, 0x84, 0x5b}, bytes.Repeat([]byte{0xff}, 600)...))
	add([]byte("-----BEGIN OAT REQUEST-----\n" + b64 + "\n-----END OAT REQUEST-----\n"))
	return in
}

// TestAllocationBound checks that no 1 KiB input makes any decoder of
// untrusted input allocate more than allocBound bytes.
func TestAllocationBound(t *testing.T) {
	inputs := hostileInputs(t)
	trust := keys.NewTrustSet(forge.Public(forge.Key("vendor")))
	inst := forge.Public(forge.Key("installation"))
	decoders := []struct {
		name string
		f    func([]byte)
	}{
		{"signing.Parse", func(b []byte) { signing.Parse(b) }},
		{"signing.Unarmor", func(b []byte) { signing.Unarmor(b) }},
		{"request.Parse", func(b []byte) { request.Parse(b) }},
		{"response.Parse", func(b []byte) { response.Parse(b, trust) }},
		{"release.Parse", func(b []byte) { release.Parse(b, inst) }},
		{"release.Peek", func(b []byte) { release.Peek(b) }},
		{"claims as Request", func(b []byte) { var v request.Request; signing.UnmarshalClaims(b, &v) }},
		{"claims as License", func(b []byte) { var v response.License; signing.UnmarshalClaims(b, &v) }},
		{"claims as Receipt", func(b []byte) { var v release.Receipt; signing.UnmarshalClaims(b, &v) }},
		{"keys.ParsePublicKeys", func(b []byte) { keys.ParsePublicKeys(b) }},
	}
	runs := 5
	if testing.Short() {
		inputs = inputs[:len(inputs)/4]
	}
	for _, d := range decoders {
		var worst uint64
		var worstIn []byte
		for _, in := range inputs {
			if n := bytesAllocated(runs, func() { d.f(in) }); n > worst {
				worst, worstIn = n, in
			}
		}
		t.Logf("%-22s worst %6d bytes over %d inputs of <= 1 KiB", d.name, worst, len(inputs))
		if worst > allocBound {
			t.Errorf("%s allocated %d bytes (bound %d) on input %x", d.name, worst, allocBound, worstIn)
		}
	}
}
