package termsafe

import (
	"bytes"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rack01", "rack01"},
		{"ホスト", "ホスト"},
		{"evil\x1b]0;pwned\x07", `evil\x1b]0;pwned\x07`},
		{"a\nb\tc", `a\x0ab\x09c`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"bad\xffutf8", `bad\xffutf8`},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "ACME Corp.", "山田 太郎", "o'brien@example.com"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"a\x1bb", "tab\there", "line\n", "\u202e", "\xff"} {
		if err := Check(bad); err == nil {
			t.Errorf("Check(%q) = nil, want an error", bad)
		}
	}
}

func TestWriterKeepsLayoutEscapesControls(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := "HOST\tSTATE\nrack\x1b[2J01\tok\n"
	if n, err := w.Write([]byte(in)); err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	want := "HOST\tSTATE\nrack\\x1b[2J01\tok\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// A multi-byte character split across two writes (tabwriter and fmt may
// split anywhere) must come out whole, and a C1 control split the same way
// must still be escaped.
func TestWriterSplitRunes(t *testing.T) {
	for _, in := range []string{"名前\u009bx", "ok\u202e!"} {
		want := String(in)
		for cut := 0; cut <= len(in); cut++ {
			var out bytes.Buffer
			w := NewWriter(&out)
			w.Write([]byte(in[:cut]))
			w.Write([]byte(in[cut:]))
			w.Flush()
			if out.String() != want {
				t.Errorf("cut %d of %q: got %q, want %q", cut, in, out.String(), want)
			}
		}
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Write([]byte("end\xe3\x81"))
	w.Flush()
	if !strings.HasSuffix(out.String(), `\xe3\x81`) {
		t.Errorf("an incomplete sequence at the end: got %q", out.String())
	}
}

func FuzzWriter(f *testing.F) {
	f.Add([]byte("rack\x1b01\u202e"), 3)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		if cut < 0 || cut > len(p) {
			cut = len(p) / 2
		}
		var out bytes.Buffer
		w := NewWriter(&out)
		w.Write(p[:cut])
		w.Write(p[cut:])
		w.Flush()
		for _, r := range out.String() {
			if unsafe(r) && r != '\n' && r != '\t' {
				t.Fatalf("control %U reached the output: %q", r, out.String())
			}
		}
	})
}
