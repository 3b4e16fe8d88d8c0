package signing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrArmor means armored text is damaged: wrong BEGIN/END lines, bad base64.
var ErrArmor = errors.New("damaged armor")

const armorColumns = 64

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// Armor wraps a binary message in PEM-style text that survives e-mail and
// copy-paste: BEGIN line, standard base64 in 64-column lines, END line.
func Armor(kind Kind, raw []byte) []byte {
	label := kind.ArmorLabel()
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	b.WriteString("-----BEGIN " + label + "-----\n")
	for len(enc) > armorColumns {
		b.WriteString(enc[:armorColumns] + "\n")
		enc = enc[armorColumns:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	b.WriteString("-----END " + label + "-----\n")
	return b.Bytes()
}

func looksArmored(data []byte) bool {
	data = bytes.TrimPrefix(data, utf8BOM)
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN "))
}

// Unarmor reverses Armor. It is lenient only where people's tools are:
// CRLF line ends, a UTF-8 byte-order mark, white space around lines and the
// block, and base64 re-wrapped to another width. Anything else is an error.
func Unarmor(data []byte) (Kind, []byte, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	text := strings.TrimSpace(string(data))
	lines := strings.Split(text, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if len(lines) < 3 {
		return 0, nil, fmt.Errorf("%w: too short to hold a BEGIN line, data and an END line", ErrArmor)
	}
	begin, end := lines[0], lines[len(lines)-1]
	label, ok := strings.CutPrefix(begin, "-----BEGIN ")
	if ok {
		label, ok = strings.CutSuffix(label, "-----")
	}
	if !ok {
		return 0, nil, fmt.Errorf("%w: first line is not a BEGIN line", ErrArmor)
	}
	kind, ok := kindOfLabel(label)
	if !ok {
		return 0, nil, fmt.Errorf("%w: %q is not an oat file label (want OAT REQUEST, OAT LICENSE or OAT RELEASE)", ErrArmor, label)
	}
	if end != "-----END "+label+"-----" {
		return 0, nil, fmt.Errorf("%w: the END line is missing or does not match %q (truncated?)", ErrArmor, label)
	}
	var b64 strings.Builder
	for _, l := range lines[1 : len(lines)-1] {
		for _, c := range []byte(l) {
			if !isBase64(c) {
				return 0, nil, fmt.Errorf("%w: unexpected character %q in the base64 data", ErrArmor, c)
			}
		}
		b64.WriteString(l)
	}
	// Armor never writes an empty body, so an empty one is damage (and
	// accepting it would make Unarmor accept text Armor cannot produce).
	if b64.Len() == 0 {
		return 0, nil, fmt.Errorf("%w: no data between the BEGIN and END lines", ErrArmor)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64.String())
	if err != nil {
		return 0, nil, fmt.Errorf("%w: bad base64 (%v)", ErrArmor, err)
	}
	return kind, raw, nil
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}
