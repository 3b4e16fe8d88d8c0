package cli

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/store"
)

// checkCommand is the product's own check, for products written in any
// language: they run it and read the exit code or the JSON.
func checkCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "check",
		Usage: "the product's license check: is PRODUCT licensed by the license copy in its settings directory?",
		Description: "Verifies DIR/oat-license.oat with the vendor key(s) the product pins (not the store's trust.pem),\n" +
			"that it covers PRODUCT, that this machine is the one it was issued for, and its validity against\n" +
			"a clock that never runs backwards (DIR/oat-clock). Exit status 0: licensed (also in an online grace\n" +
			"period, with warnings); 1: not licensed (--json says whether a trial runs and how many days are left);\n" +
			"2: a usage mistake. The JSON schema is in doc/product.md.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "settings-dir", Usage: "the product's settings `DIR`, where oat install copies the license", Required: true},
			&ucli.StringFlag{Name: "product", Usage: "the product `CODE` to check", Required: true},
			&ucli.StringSliceFlag{Name: "trust", Usage: "the vendor public key(s) the product pins, `VENDOR.pub` (repeatable)", Required: true},
			&ucli.BoolFlag{Name: "json", Usage: "print the verdict as JSON"},
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			dir, product := c.String("settings-dir"), c.String("product")
			if !store.ValidProductCode(product) {
				return usagef("check: %q is not a product code (lower-case letters, digits and '-')", product)
			}
			var pinned []ed25519.PublicKey
			for _, path := range c.StringSlice("trust") {
				t, err := keys.LoadTrustSet(path)
				if err != nil {
					return fmt.Errorf("check %s: %w", product, err)
				}
				pinned = append(pinned, trustedKeys(t)...)
			}
			// The machine is read under OAT_SYSROOT like every other
			// command; the package itself never reads the environment.
			so := e.storeOptions()
			// An online activation's standing (A5) comes from the desk's
			// signed acknowledgement that oat refresh puts beside the copy.
			v, err := check.Check(dir, product, pinned, &check.Options{Machine: check.MachineAt(so.Root), TrialMarker: so.TrialMarker,
				Now: e.now, Online: check.OnlineAck(pinned)})
			if c.Bool("json") {
				if werr := writeJSON(e.stdout, v); werr != nil {
					return werr
				}
			} else {
				printVerdict(e.stdout, v)
			}
			if err != nil {
				return fmt.Errorf("check %s: %w", product, err)
			}
			return nil
		},
	}
}

func printVerdict(w io.Writer, v *check.Verdict) {
	switch v.State {
	case check.Licensed, check.Grace:
		seats := "seats"
		if v.Seats == 1 {
			seats = "seat"
		}
		fmt.Fprintf(w, "%s: %s (%s, %d %s, order %s), expires %s\n", strings.ToUpper(string(v.State)), v.Product, v.Model, v.Seats, seats, v.Order, dayOrNever(v.Expires))
	case check.Trial:
		fmt.Fprintf(w, "TRIAL: %s is not licensed, and runs as a trial\n", v.Product)
	case check.Expired:
		fmt.Fprintf(w, "EXPIRED: %s is not licensed since %s\n", v.Product, dateOf(v.Expires))
	default:
		fmt.Fprintf(w, "UNLICENSED: %s is not licensed\n", v.Product)
	}
	for _, warn := range v.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func dayOrNever(s string) string {
	if s == "never" || s == "" {
		return "never"
	}
	return dateOf(s)
}
