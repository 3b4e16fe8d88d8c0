package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/desk"
)

// deskReassignCommand is `oat desk reassign`: the one way a seat licensed
// to a person (IT Pro, B22) passes to another, when its engineer leaves.
func deskReassignCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "reassign",
		Usage: "give the IT Pro seat of an engineer who left to another engineer's address (B22), audited",
		Description: "An IT Pro seat belongs to its engineer's address: it is never lent or transferred, and it stays\n" +
			"taken when the engineer's medium is released. When the engineer leaves, the desk reassigns the seat;\n" +
			"its year still runs from its first activation. The old engineer's medium must be released first.",
		Flags: []ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
			&ucli.StringFlag{Name: "product", Usage: "product `CODE`", Required: true},
			&ucli.StringFlag{Name: "from", Usage: "the seat's owner `ADDRESS`", Required: true},
			&ucli.StringFlag{Name: "to", Usage: "the new owner's `ADDRESS`", Required: true},
			&ucli.StringFlag{Name: "reason", Usage: "why, for the audit log", Required: true},
		},
		Action: e.deskAction(func(c *ucli.Context, d *desk.Desk) error {
			order, code, from, to := c.String("order"), c.String("product"), c.String("from"), c.String("to")
			if err := d.ReassignSeat(c.Context, order, code, from, to, c.String("reason"), e.actor()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "order %s: the %s seat of %s now belongs to %s\n", order, code, from, to)
			return nil
		}),
	}
}
