package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/productkey"
)

func productKeyCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "productkey",
		Usage: "product keys, for products that use keys instead of activation (A22)",
		Subcommands: []*ucli.Command{
			productKeyGenerateCommand(e),
			productKeyShowCommand(e),
			productKeyCheckCommand(e),
		},
		Action: subcommandUsage,
	}
}

func productKeyCheckCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "check",
		Usage: "verify a product key offline with the vendor's public key",
		Description: "KEY is the key as typed or pasted: case, dashes, spaces and O/0, I/L/1 do not matter.\n" +
			"With --file the key is read from a file (\"-\" for standard input).",
		ArgsUsage: "[KEY...]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "trust", Required: true, Usage: "vendor public key(s) in `PUB`"},
			&ucli.StringFlag{Name: "product", Required: true, Usage: "the product `CODE` the key must unlock"},
			&ucli.StringFlag{Name: "file", Usage: "read the key from `FILE` (\"-\" for standard input)"},
			&ucli.StringFlag{Name: "at", Usage: "check as of `YYYY-MM-DD` instead of today"},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *ucli.Context) error {
			text, where, err := keyText(e, c)
			if err != nil {
				return err
			}
			now := time.Now()
			if at := c.String("at"); at != "" {
				if now, err = time.Parse(time.DateOnly, at); err != nil {
					return usagef("productkey check: --at %q is not a date YYYY-MM-DD", at)
				}
			}
			trustPath := c.String("trust")
			data, err := atomicfile.ReadCapped(trustPath, keys.MaxPublicKeyFile)
			if err != nil {
				return fmt.Errorf("productkey check: trust %s: %w", trustPath, err)
			}
			trust, err := keys.ParseTrustSet(data)
			if err != nil {
				return fmt.Errorf("productkey check: trust %s: %w", trustPath, err)
			}
			tok, err := productkey.Parse(text)
			if err == nil {
				err = tok.Verify(trust)
			}
			if err == nil {
				err = tok.Key.Check(c.String("product"), now)
			}
			if err != nil {
				return fmt.Errorf("productkey check%s: %w", where, err)
			}
			v := keyView(tok)
			if c.Bool("json") {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(e.stdout, "product key: valid for %s, signed by trusted key %s\n", v.Product, v.KeyID)
			fmt.Fprintf(e.stdout, "serial:      %s\n", v.Serial)
			fmt.Fprintf(e.stdout, "seat:        %d\n", v.Seat)
			if v.Guest > 0 {
				fmt.Fprintf(e.stdout, "guest:       %d of %d of this host license\n", v.Guest, productkey.GuestKeysPerHost)
			}
			if v.Agents > 0 {
				fmt.Fprintf(e.stdout, "agents:      %d\n", v.Agents)
			}
			fmt.Fprintf(e.stdout, "issued:      %s\n", v.Issued)
			if v.Expires == "" {
				fmt.Fprintf(e.stdout, "expires:     never (perpetual)\n")
			} else {
				fmt.Fprintf(e.stdout, "expires:     %s\n", v.Expires)
			}
			return nil
		},
	}
}

// keyText returns the key from the arguments or --file, and words naming
// where it came from for error messages.
func keyText(e *env, c *ucli.Context) (text, where string, err error) {
	file := c.String("file")
	switch {
	case file != "" && c.NArg() > 0:
		return "", "", usagef("%s: give the key as arguments or --file, not both", "productkey check")
	case file == "-":
		b, err := io.ReadAll(io.LimitReader(e.stdin, 4*productkey.MaxLen+1))
		if err != nil {
			return "", "", fmt.Errorf("%s: standard input: %w", "productkey check", err)
		}
		return string(b), " (standard input)", nil
	case file != "":
		b, err := atomicfile.ReadCapped(file, 4*productkey.MaxLen)
		if err != nil {
			return "", "", fmt.Errorf("%s %s: %w", "productkey check", file, err)
		}
		return string(b), " " + file, nil
	case c.NArg() == 0:
		return "", "", usagef("%s: want the KEY (or --file)", "productkey check")
	}
	// A key typed with spaces arrives as several arguments.
	return strings.Join(c.Args().Slice(), " "), "", nil
}

// productKeyView is the JSON form of a verified key.
type productKeyView struct {
	Product string `json:"product"`
	Serial  string `json:"serial"`
	Seat    uint16 `json:"seat"`
	Guest   uint16 `json:"guest,omitempty"`
	Agents  uint16 `json:"agents,omitempty"`
	Issued  string `json:"issued"`
	Expires string `json:"expires,omitempty"`
	KeyID   string `json:"key_id"`
}

func keyView(t *productkey.Token) productKeyView {
	v := productKeyView{
		Product: t.Key.Product, Serial: t.Key.Serial.String(), Seat: t.Key.Seat, Guest: t.Key.Guest,
		Agents: t.Key.Agents, Issued: t.Key.Issued.Format(time.DateOnly), KeyID: t.KeyID.String(),
	}
	if !t.Key.Expires.IsZero() {
		v.Expires = t.Key.Expires.Format(time.DateOnly)
	}
	return v
}

func productKeyGenerateCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "generate",
		Usage: "the license desk generates signed product keys for an order line whose product uses keys",
		Description: "Each key is recorded in the ledger before it is printed; an order line carries seats × the\n" +
			"model's keys per seat (100 guest keys per virtual-host license of the replication product).",
		Flags: append([]ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
			&ucli.StringFlag{Name: "fulfillment", Usage: "fulfillment `NUMBER`", Required: true},
			&ucli.StringFlag{Name: "product", Usage: "product `CODE`", Required: true},
			&ucli.IntFlag{Name: "count", Usage: "`N` keys (default: all the line has left)"},
			&ucli.StringFlag{Name: "out", Usage: "write the keys to `FILE`, one a line (never overwrites); default standard output"},
		}, deskKeyFlags()...),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			out := c.String("out")
			if out != "" {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("productkey generate: %s exists; keys are never written over", out)
				}
			}
			vendor, err := e.vendorKey(c)
			if err != nil {
				return err
			}
			d, done, err := e.openDesk(c)
			if err != nil {
				return err
			}
			defer done()
			ks, err := d.ProductKeys(c.Context, vendor, desk.KeysRequest{Order: c.String("order"), Fulfillment: c.String("fulfillment"),
				Product: c.String("product"), Count: c.Int("count"), Actor: e.actor()})
			if err != nil {
				return fmt.Errorf("productkey generate: %w", err)
			}
			var b strings.Builder
			for _, k := range ks {
				b.WriteString(k.Text + "\n")
			}
			if out == "" {
				_, err := io.WriteString(e.stdout, b.String())
				return err
			}
			if err := atomicfile.Create(out, []byte(b.String()), 0o600); err != nil {
				return fmt.Errorf("productkey generate: %s: %w (the keys are recorded in the ledger by serial and count against the order)", out, err)
			}
			first, last := ks[0].Key, ks[len(ks)-1].Key
			fmt.Fprintf(e.stdout, "%s: %d product keys of %s on order %s (seat %d guest %d to seat %d guest %d)\n",
				out, len(ks), first.Product, c.String("order"), first.Seat, first.Guest, last.Seat, last.Guest)
			return nil
		},
	}
}
