package portal

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oat-toolkit/oat/signing"
)

// TestMangledUploads posts thousands of damaged files to the endpoints that
// take files: every one must get a clean JSON client error (or, rarely, be
// accepted), never a 500 or a panic. The decoders themselves are fuzzed in
// the signing and request packages; this holds the HTTP layer above them.
// (A Fuzz target here would be instrumented with the browser and database
// code the external tests link, and run at a handful of executions a second.)
func TestMangledUploads(t *testing.T) {
	d := newFakeDesk(t)
	s, err := New(Config{Desk: d, SessionKey: bytes.Repeat([]byte{1}, 32), RatePerMinute: 1e9, Burst: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := newRequest(t, "ORD-1", "h")
	m, _ := signing.Parse(req)
	seeds := [][]byte{req, m.Raw()}
	paths := []string{"/v1/activations", "/v1/preview", "/v1/releases"}
	types := []string{"", "application/octet-stream", "text/plain", "multipart/form-data; boundary=x", "application/json"}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		body := bytes.Clone(seeds[rng.IntN(len(seeds))])
		switch rng.IntN(4) {
		case 0: // flip bytes
			for k := 0; k < 1+rng.IntN(4); k++ {
				body[rng.IntN(len(body))] ^= byte(1 + rng.IntN(255))
			}
		case 1: // truncate
			body = body[:rng.IntN(len(body))]
		case 2: // insert junk
			at := rng.IntN(len(body))
			junk := make([]byte, 1+rng.IntN(16))
			for k := range junk {
				junk[k] = byte(rng.IntN(256))
			}
			body = append(body[:at:at], append(junk, body[at:]...)...)
		case 3: // duplicate a slice
			a := rng.IntN(len(body))
			body = append(body, body[a:]...)
		}
		path := paths[rng.IntN(len(paths))]
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Content-Type", types[rng.IntN(len(types))])
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusOK:
		case w.Code >= 400 && w.Code < 500:
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("%s: status %d with content type %q", path, w.Code, ct)
			}
		default:
			t.Fatalf("%s: status %d for %q: %s", path, w.Code, body, w.Body.String())
		}
	}
}
