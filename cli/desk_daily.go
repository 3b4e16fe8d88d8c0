package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/desk"
)

// The desk's daily work from the command line, each with --json for
// scripts: listing orders, reading the audit log, correcting an order,
// and what oat desk issue issued.

// issuedJSON is one license oat desk issue --json reports.
type issuedJSON struct {
	Request    string   `json:"request"`
	License    string   `json:"license"`
	Activation string   `json:"activation"`
	Sequence   uint64   `json:"sequence"`
	New        bool     `json:"new"`
	Repeat     bool     `json:"repeat"`
	Host       string   `json:"host"`
	Products   []string `json:"products"`
}

// reportIssued prints what was issued: text lines, or with --json one
// JSON array, so that scripts get the activation IDs oat desk update
// needs without scraping text.
func (e *env) reportIssued(c *ucli.Context, issued []desk.Issued, target func(desk.Issued) string) error {
	if !c.Bool("json") {
		// One write for the batch, not one per license.
		var buf bytes.Buffer
		for _, is := range issued {
			printIssued(&buf, is, target(is))
		}
		_, err := e.stdout.Write(buf.Bytes())
		return err
	}
	out := []issuedJSON{}
	for _, is := range issued {
		j := issuedJSON{Request: is.Name, License: target(is), Activation: is.Activation, Sequence: is.Sequence,
			New: is.New, Repeat: is.Repeat, Host: is.License.Host, Products: []string{}}
		for _, p := range is.License.Products {
			j.Products = append(j.Products, p.Code)
		}
		out = append(out, j)
	}
	return writeJSON(e.stdout, out)
}

func deskOrderListCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "list",
		Usage: "list orders, by purchaser, product or state",
		Flags: []ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "purchaser", Usage: "only orders of the purchaser `ADDRESS`"},
			&ucli.StringFlag{Name: "product", Usage: "only orders with a line of product `CODE`"},
			&ucli.StringFlag{Name: "state", Usage: "only orders with a line in `STATE`: active, expired, cancelled or full"},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: e.deskAction(func(c *ucli.Context, d *desk.Desk) error {
			orders, err := d.ListOrders(c.Context, desk.OrderFilter{Purchaser: c.String("purchaser"), Product: c.String("product"), State: c.String("state")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(e.stdout, orders)
			}
			if len(orders) == 0 {
				fmt.Fprintln(e.stdout, "no orders")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ORDER\tPURCHASER\tPRODUCT\tSEATS\tUSED\tFREE\tEXPIRES\tSTATE")
			for _, o := range orders {
				for _, l := range o.Products {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", o.Order, orDash(o.Email), l.Code, l.Seats, l.Used, l.Free, orDash(l.Expires), l.State)
				}
			}
			return tw.Flush()
		}),
	}
}

func deskOrderChangeCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "change",
		Usage: "correct an order, audited: add seats to a line, cancel a line, or correct the purchaser's address (FAQ 3.6, 5.3)",
		Flags: []ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
			&ucli.StringFlag{Name: "product", Usage: "the line's product `CODE` (--add-seats, --cancel)"},
			&ucli.Int64Flag{Name: "add-seats", Usage: "add `N` seats to the line"},
			&ucli.BoolFlag{Name: "cancel", Usage: "cancel the line (refused while its seats are in use)"},
			&ucli.StringFlag{Name: "purchaser", Usage: "the purchaser's corrected e-mail `ADDRESS`"},
			&ucli.StringFlag{Name: "reason", Usage: "why, for the audit log", Required: true},
			&ucli.BoolFlag{Name: "json", Usage: "print the order as it is now, as JSON"},
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			n := 0
			for _, f := range []string{"add-seats", "cancel", "purchaser"} {
				if c.IsSet(f) {
					n++
				}
			}
			if n != 1 {
				return usagef("desk order change: give one of --add-seats N, --cancel or --purchaser ADDRESS")
			}
			d, done, err := e.openDesk(c)
			if err != nil {
				return err
			}
			defer done()
			ch := desk.OrderChange{Order: c.String("order"), Product: c.String("product"), AddSeats: c.Int64("add-seats"),
				Cancel: c.Bool("cancel"), Purchaser: c.String("purchaser"), Reason: c.String("reason"), Actor: e.actor()}
			if c.IsSet("add-seats") && ch.AddSeats <= 0 {
				return usagef("desk order change: --add-seats takes a positive number")
			}
			if err := d.ChangeOrder(c.Context, ch); err != nil {
				return err
			}
			v, err := d.Show(c.Context, ch.Order)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(e.stdout, v)
			}
			switch {
			case ch.AddSeats > 0:
				for _, l := range v.Products {
					if l.Code == ch.Product {
						fmt.Fprintf(e.stdout, "order %s: %s now has %d seats (%d added)\n", ch.Order, l.Code, l.Seats, ch.AddSeats)
					}
				}
			case ch.Cancel:
				fmt.Fprintf(e.stdout, "order %s: %s cancelled\n", ch.Order, ch.Product)
			default:
				fmt.Fprintf(e.stdout, "order %s: purchaser is now %s\n", ch.Order, v.Email)
			}
			return nil
		},
	}
}

// auditJSON is one audit entry as oat desk audit --json prints it.
type auditJSON struct {
	ID         int64           `json:"id"`
	At         string          `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Order      string          `json:"order,omitempty"`
	Activation string          `json:"activation,omitempty"`
	Detail     json.RawMessage `json:"detail"`
}

func deskAuditCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "print the append-only audit log of an order or an activation, oldest first",
		Flags: []ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "order", Usage: "entries about order `ID`"},
			&ucli.StringFlag{Name: "activation", Usage: "entries about activation `ID`"},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.String("order") == "" && c.String("activation") == "" {
				return usagef("desk audit: give --order ID or --activation ID")
			}
			d, done, err := e.openDesk(c)
			if err != nil {
				return err
			}
			defer done()
			log, err := d.AuditLog(c.Context, c.String("order"), c.String("activation"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				out := []auditJSON{}
				for _, a := range log {
					out = append(out, auditJSON{ID: a.ID, At: time.Unix(a.At, 0).UTC().Format(time.RFC3339), Actor: a.Actor,
						Action: a.Action, Order: a.Order, Activation: a.Activation, Detail: json.RawMessage(a.Detail)})
				}
				return writeJSON(e.stdout, out)
			}
			if len(log) == 0 {
				fmt.Fprintln(e.stdout, "no entries")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			for _, a := range log {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", time.Unix(a.At, 0).UTC().Format("2006-01-02 15:04:05"), a.Actor, a.Action,
					orDash(a.Order), orDash(a.Activation), strings.ReplaceAll(a.Detail, "\n", " "))
			}
			return tw.Flush()
		},
	}
}
