package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
	"github.com/oat-toolkit/oat/store"
)

func showCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:      "show",
		Usage:     "decode any oat file and, with --trust, verify it",
		ArgsUsage: "FILE",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "trust", Usage: "verify the signature with the public key(s) in `PUB`"},
			&ucli.StringFlag{Name: "store", Usage: "also compare the file's machine with this machine, as the installation in `DIR` sees it"},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *ucli.Context) error {
			if err := requireArgs(c, 1, "one FILE"); err != nil {
				return err
			}
			path := c.Args().First()
			v, err := inspect(path, c.String("trust"))
			if err != nil {
				return err
			}
			if v.Machine != nil && c.String("store") != "" {
				if err := e.withStore(c, func(s *store.Store) error {
					_, fp, err := s.Fingerprint()
					if err != nil {
						return fmt.Errorf("show %s: %w", path, err)
					}
					m, err := machine.Compare(v.fp, fp)
					if err != nil {
						v.Machine.Verdict = err.Error()
						return nil
					}
					v.Machine.Matches, v.Machine.Verdict = &m.OK, m.String()
					return nil
				}); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			v.print(e)
			return nil
		},
	}
}

// fileView is what `oat show` reports about a file.
type fileView struct {
	File        string         `json:"file"`
	Kind        string         `json:"kind"`
	ContentType string         `json:"content_type"`
	KeyID       string         `json:"key_id"`
	Verified    bool           `json:"verified"`
	VerifiedBy  string         `json:"verified_by,omitempty"`
	Claims      map[string]any `json:"claims"`
	Machine     *machineView   `json:"machine,omitempty"`

	fp machine.Fingerprint
}

// machineView explains the machine a request or license is bound to in the
// terms of the evidence policy (doc/server.md), and with --store, the
// verdict on this machine.
type machineView struct {
	Kind     string   `json:"kind"`
	Bound    []string `json:"bound"`
	Evidence string   `json:"evidence"`
	Matches  *bool    `json:"matches,omitempty"`
	Verdict  string   `json:"verdict,omitempty"`
}

func inspect(path, trustPath string) (*fileView, error) {
	data, err := atomicfile.ReadCapped(path, signing.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", path, err)
	}
	m, err := signing.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", path, err)
	}
	v := &fileView{File: path, Kind: m.Kind.String(), ContentType: m.Kind.ContentType(), KeyID: m.KeyID.String()}

	// Decode into the kind's own type first: that applies the strict rules
	// (unknown claims, types) before anything is shown.
	var fp *machine.Fingerprint
	switch m.Kind {
	case signing.Request:
		r, _, err := request.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("show %s: %w", path, err)
		}
		fp = &r.Machine
		// A request is always checked against the installation key it carries.
		v.Verified, v.VerifiedBy = true, "installation key "+m.KeyID.String()+" (from the request's cnf claim)"
	case signing.License:
		var l response.License
		err = signing.UnmarshalClaims(m.Payload, &l)
		fp = &l.Machine
	case signing.Release:
		err = signing.UnmarshalClaims(m.Payload, &release.Receipt{})
	case signing.CheckIn:
		_, err = checkin.PeekCheckIn(data)
	case signing.Ack:
		err = signing.UnmarshalClaims(m.Payload, &checkin.Ack{})
	case signing.Rotation:
		_, _, err = rotation.Parse(data)
	}
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", path, err)
	}
	if trustPath != "" {
		ts, err := keys.LoadTrustSet(trustPath)
		if err != nil {
			return nil, err
		}
		if err := m.VerifyTrusted(ts); err != nil {
			return nil, fmt.Errorf("show %s: %w", path, err)
		}
		v.Verified, v.VerifiedBy = true, "trusted key "+m.KeyID.String()+" from "+trustPath
	}
	var claims map[any]any
	if err := signing.UnmarshalClaims(m.Payload, &claims); err != nil {
		return nil, fmt.Errorf("show %s: %w", path, err)
	}
	v.Claims = readable(claims, true).(map[string]any)
	if fp != nil {
		v.fp = *fp
		v.Machine = &machineView{Kind: machine.Kind(*fp), Bound: machine.Bound(*fp), Evidence: "enough for a " + machine.Kind(*fp)}
		if err := machine.CheckEvidence(*fp); err != nil {
			v.Machine.Evidence = err.Error()
		}
	}
	return v, nil
}

// cwtNames names the CWT claim keys (RFC 8392, RFC 8747) for display.
var cwtNames = map[int64]string{1: "iss", 2: "sub", 3: "aud", 4: "exp", 5: "nbf", 6: "iat", 7: "cti", 8: "cnf"}

// readable turns decoded CBOR into JSON-friendly values: integer claim keys
// of the top-level map get their CWT names, byte strings become hex.
func readable(v any, top bool) any {
	switch x := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			name := fmt.Sprint(k)
			if n, ok := k.(int64); ok && top && cwtNames[n] != "" {
				name = cwtNames[n]
			}
			out[name] = readable(val, false)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = readable(x[i], false)
		}
		return out
	case []byte:
		return hex.EncodeToString(x)
	}
	return v
}

func (v *fileView) print(e *env) {
	fmt.Fprintf(e.stdout, "file:      %s\n", v.File)
	fmt.Fprintf(e.stdout, "kind:      %s (%s)\n", v.Kind, v.ContentType)
	fmt.Fprintf(e.stdout, "key ID:    %s\n", v.KeyID)
	if v.Verified {
		fmt.Fprintf(e.stdout, "signature: verified with %s\n", v.VerifiedBy)
	} else {
		fmt.Fprintf(e.stdout, "signature: NOT verified (give --trust PUB to check it)\n")
	}
	if mv := v.Machine; mv != nil {
		fmt.Fprintf(e.stdout, "machine:   %s, bound to %s\n", mv.Kind, strings.Join(mv.Bound, ", "))
		fmt.Fprintf(e.stdout, "evidence:  %s\n", mv.Evidence)
		if mv.Verdict != "" {
			fmt.Fprintf(e.stdout, "this machine: %s\n", mv.Verdict)
		}
	}
	fmt.Fprintln(e.stdout, "claims:")
	printMap(e, v.Claims, "  ")
}

func printMap(e *env, m map[string]any, indent string) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch val := m[k].(type) {
		case map[string]any:
			fmt.Fprintf(e.stdout, "%s%s:\n", indent, k)
			printMap(e, val, indent+"  ")
		case []any:
			fmt.Fprintf(e.stdout, "%s%s:\n", indent, k)
			for _, item := range val {
				if sub, ok := item.(map[string]any); ok {
					fmt.Fprintf(e.stdout, "%s  -\n", indent)
					printMap(e, sub, indent+"    ")
				} else {
					fmt.Fprintf(e.stdout, "%s  - %v\n", indent, item)
				}
			}
		default:
			fmt.Fprintf(e.stdout, "%s%s: %v%s\n", indent, k, val, timeNote(k, val))
		}
	}
}

// timeNote adds a readable date after the CWT time claims.
func timeNote(name string, v any) string {
	if !strings.Contains(" iat nbf exp ", " "+name+" ") {
		return ""
	}
	var secs int64
	switch n := v.(type) {
	case uint64:
		secs = int64(n)
	case int64:
		secs = n
	default:
		return ""
	}
	return " (" + time.Unix(secs, 0).UTC().Format(time.RFC3339) + ")"
}
