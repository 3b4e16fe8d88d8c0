package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/desk"
)

// deskMoveCommand is `oat desk move`: the desk approves moving the seat of
// a recovered installation to its new hardware (A26).
func deskMoveCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "move",
		Usage: "approve a recovered installation's request from new hardware: release its old activation and activate it here (A26)",
		Description: "For an installation restored onto other hardware when the old machine cannot write a release\n" +
			"receipt. The old activation is released and the request answered in one transaction: the seat\n" +
			"moves, it is never held twice. Without approval, oat desk issue refuses such a request.",
		ArgsUsage: "REQUEST",
		Flags: append([]ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "out", Usage: "write the license to `FILE`", Required: true},
			&ucli.StringFlag{Name: "reason", Usage: "why the desk approves, for the audit log", Required: true},
			&ucli.StringFlag{Name: "method", Usage: "activation `METHOD`: offline or online (A11)", Value: desk.Offline},
			&ucli.StringFlag{Name: "group", Usage: "hypervisor host or cluster `NAME`, for licenses counted per host or cluster"},
		}, deskKeyFlags()...),
		Action: func(c *ucli.Context) error {
			path, data, err := fileArg(c, "one REQUEST file", "request")
			if err != nil {
				return err
			}
			out := c.String("out")
			if err := checkOut(c, out); err != nil {
				return fmt.Errorf("license %w", err)
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
			is, err := d.Move(c.Context, vendor, path, data,
				desk.IssueOptions{Method: c.String("method"), Group: c.String("group"), Actor: e.actor(),
					PortalURL: c.String("portal-url")}, c.String("reason"))
			if err != nil {
				return err
			}
			if err := writeOut(c, out, is.File); err != nil {
				return fmt.Errorf("license %w (the ledger has recorded the move: issue the same request again with oat desk issue to get the same license)", err)
			}
			e.printIssued(*is, out)
			return nil
		},
	}
}
