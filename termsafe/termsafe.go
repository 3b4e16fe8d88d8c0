// Package termsafe keeps text from outside (a request's host name, a ledger's
// company or order ID) from reaching a terminal raw. A control character in
// such text could move the cursor, rewrite earlier lines, change the window
// title or hide what follows; termsafe shows it instead as a visible escape
// such as \x1b or \u202e, so the admin sees that something odd was there.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal raw: the C0 and C1
// control characters and DEL, and the Unicode bidirectional controls that
// reorder what is displayed (the "Trojan Source" characters). Newline and
// tab are handled by the callers, which decide whether they are layout.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// escape writes r as a visible escape.
func escape(b *strings.Builder, r rune) {
	if r < 0x80 {
		fmt.Fprintf(b, `\x%02x`, r)
		return
	}
	fmt.Fprintf(b, `\u%04x`, r)
}

// String returns s with every control character, newlines and tabs
// included, replaced by a visible escape, and invalid UTF-8 bytes shown as
// \xNN. Use it for one field of outside text printed on a line.
func String(s string) string {
	if !needsEscape(s, false) {
		return s
	}
	var b strings.Builder
	appendEscaped(&b, s, false)
	return b.String()
}

// Check returns an error if s, a value an admin typed, holds a control
// character: such a value would end up in files and ledgers that others
// print, so it is refused where it is typed rather than escaped later.
func Check(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("is not valid UTF-8")
			}
		}
		if unsafe(r) {
			var b strings.Builder
			escape(&b, r)
			return fmt.Errorf("contains the control character %s", b.String())
		}
	}
	return nil
}

func needsEscape(s string, layout bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			if layout && (c == '\n' || c == '\t') {
				continue
			}
			if c >= 0x80 {
				// Multi-byte UTF-8: check properly.
				return needsEscapeSlow(s[i:], layout)
			}
			return true
		}
	}
	return false
}

func needsEscapeSlow(s string, layout bool) bool {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			return true
		}
		if unsafe(r) && !(layout && (r == '\n' || r == '\t')) {
			return true
		}
		s = s[size:]
	}
	return false
}

func appendEscaped(b *strings.Builder, s string, layout bool) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(b, `\x%02x`, s[0])
		case layout && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unsafe(r):
			escape(b, r)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

// Writer escapes control characters in everything written through it,
// except newlines and tabs, which are the layout of the program's own
// output. It is the last line of defence for a whole command's output: a
// field that a print statement forgot to escape still cannot reach the
// terminal raw.
type Writer struct {
	w       io.Writer
	partial []byte // the start of a UTF-8 sequence split across writes
}

// NewWriter returns a Writer that writes escaped text to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it. It reports len(p) on success, as the
// io.Writer contract asks, even though more bytes may reach w.
func (w *Writer) Write(p []byte) (int, error) {
	data := p
	if len(w.partial) > 0 {
		data = append(w.partial, p...)
		w.partial = nil
	}
	// Keep back an incomplete UTF-8 sequence at the end for the next write.
	if tail := incompleteTail(data); tail > 0 {
		w.partial = append([]byte(nil), data[len(data)-tail:]...)
		data = data[:len(data)-tail]
	}
	s := string(data)
	if needsEscape(s, true) {
		var b strings.Builder
		appendEscaped(&b, s, true)
		s = b.String()
	}
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out a UTF-8 sequence left incomplete by the last write,
// escaped as the invalid bytes it is.
func (w *Writer) Flush() error {
	if len(w.partial) == 0 {
		return nil
	}
	var b strings.Builder
	appendEscaped(&b, string(w.partial), true)
	w.partial = nil
	_, err := io.WriteString(w.w, b.String())
	return err
}

// incompleteTail returns how many bytes at the end of p start a UTF-8
// sequence that the bytes present do not complete.
func incompleteTail(p []byte) int {
	for n := 1; n <= 3 && n <= len(p); n++ {
		c := p[len(p)-n]
		if c < 0x80 {
			return 0 // ASCII: nothing pending
		}
		if c >= 0xc0 { // a lead byte
			if !utf8.FullRune(p[len(p)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
