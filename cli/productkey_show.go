package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// productKeyShowCommand is `oat productkey show`: the keys an order line
// was given, again (FAQ 4.8), for a machine that changes.
func productKeyShowCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "show",
		Usage: "the license desk shows again the product keys an order line was given (FAQ 4.8); gives out none",
		Flags: append([]ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
			&ucli.StringFlag{Name: "fulfillment", Usage: "fulfillment `NUMBER`", Required: true},
			&ucli.StringFlag{Name: "product", Usage: "product `CODE`", Required: true},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		}, deskKeyFlags()...),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
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
			ks, err := d.ShowProductKeys(c.Context, vendor, c.String("order"), c.String("fulfillment"), c.String("product"))
			if err != nil {
				return fmt.Errorf("productkey show: %w", err)
			}
			if c.Bool("json") {
				type keyJSON struct {
					Key    string `json:"key"`
					Serial string `json:"serial"`
					Seat   uint16 `json:"seat"`
					Guest  uint16 `json:"guest,omitempty"`
				}
				out := []keyJSON{}
				for _, k := range ks {
					out = append(out, keyJSON{Key: k.Text, Serial: k.Key.Serial.String(), Seat: k.Key.Seat, Guest: k.Key.Guest})
				}
				return writeJSON(e.stdout, out)
			}
			if len(ks) == 0 {
				fmt.Fprintf(e.stdout, "no product keys of %s were generated on order %s\n", c.String("product"), c.String("order"))
				return nil
			}
			for _, k := range ks {
				fmt.Fprintln(e.stdout, k.Text)
			}
			return nil
		},
	}
}
