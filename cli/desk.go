package cli

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/signing"
)

func dbFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "db", Usage: "the ledger: a SQLite file `DSN` (path) or postgres://...", Required: true}
}

func deskKeyFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "key", Usage: "the vendor private key `VENDOR.key` that signs licenses", Required: true},
		&ucli.StringFlag{Name: "desk-name", Usage: "the desk's `NAME` in the licenses it issues", Value: desk.DefaultName},
		&ucli.StringFlag{Name: "portal-url", Usage: "the license portal's public `URL`, which registration mails link to", EnvVars: []string{"OAT_PORTAL_URL"}},
		passphraseFlag(),
	}
}

func deskCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:   "desk",
		Usage:  "the license desk: orders, issuing licenses, releases, on a SQLite or PostgreSQL ledger",
		Action: subcommandUsage,
		Subcommands: []*ucli.Command{
			{
				Name:  "init",
				Usage: "create or migrate the ledger and load the product catalog",
				Flags: []ucli.Flag{dbFlag(),
					&ucli.StringFlag{Name: "catalog", Usage: "the product catalog `FILE` (JSON; see examples/catalog.json)", Required: true},
					&ucli.StringSliceFlag{Name: "vendor", Usage: "the vendor public key(s) `VENDOR.pub` the desk signs with (default: the key of the first signing, recorded then)"}},
				Action: e.deskInit,
			},
			{
				Name:      "rotate",
				Usage:     "record a vendor key rotation statement (oat keys rotate) in the ledger",
				ArgsUsage: "FILE",
				Flags:     []ucli.Flag{dbFlag()},
				Action:    e.deskRotate,
			},
			{
				Name:   "order",
				Usage:  "record orders",
				Action: subcommandUsage,
				Subcommands: []*ucli.Command{{
					Name:  "add",
					Usage: "add a product line to an order (a new order, or one with the same fulfillment number and e-mail)",
					Flags: []ucli.Flag{dbFlag(),
						&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
						&ucli.StringFlag{Name: "fulfillment", Usage: "fulfillment `NUMBER`", Required: true},
						&ucli.StringFlag{Name: "email", Usage: "the purchaser's e-mail `ADDRESS`", Required: true},
						&ucli.StringFlag{Name: "product", Usage: "product `CODE` from the catalog", Required: true},
						seatsFlag("`N` seats"),
						&ucli.StringFlag{Name: "expires", Usage: "last day of a subscription, `YYYY-MM-DD` (default: perpetual)"},
					},
					Action: e.deskAction(e.deskOrderAdd),
				}, {
					Name:      "import",
					Usage:     "add many order lines from a JSON file, all or none (see examples/orders.json)",
					ArgsUsage: "FILE",
					Flags:     []ucli.Flag{dbFlag()},
					Action:    e.deskOrderImport,
				}, deskOrderListCommand(e), deskOrderChangeCommand(e)},
			},
			{
				Name:      "issue",
				Usage:     "verify request files and answer them with signed licenses",
				ArgsUsage: "REQUEST...",
				Flags: append(deskKeyFlags(),
					dbFlag(),
					&ucli.StringFlag{Name: "out", Usage: "write the license to `FILE` (one request)"},
					&ucli.StringFlag{Name: "out-dir", Usage: "write NAME.license for each REQUEST into `DIR`"},
					&ucli.StringFlag{Name: "method", Usage: "activation `METHOD`: offline or online (A11)", Value: desk.Offline},
					&ucli.StringFlag{Name: "group", Usage: "hypervisor host or cluster `NAME`, for licenses counted per host or cluster"},
					&ucli.StringFlag{Name: "pool", Usage: "take the new seats from the order's license pool `NAME` (A12; default: the default pool)"},
					&ucli.BoolFlag{Name: "json", Usage: "print what was issued as JSON (activation IDs for oat desk update)"},
				),
				Action: e.deskIssue,
			},
			{
				Name:  "update",
				Usage: "issue an activation's next license: add an order (A10, A19) or change its pool (A12)",
				Flags: append(deskKeyFlags(),
					dbFlag(),
					&ucli.StringFlag{Name: "activation", Usage: "activation `ID`", Required: true},
					&ucli.StringFlag{Name: "add-order", Usage: "add the products of order `ID`"},
					&ucli.StringFlag{Name: "fulfillment", Usage: "fulfillment `NUMBER` of --add-order"},
					&ucli.StringSliceFlag{Name: "product", Usage: "only this product `CODE` of --add-order (repeatable)"},
					&ucli.StringFlag{Name: "pool", Usage: "move the activation's seats to pool `NAME`"},
					&ucli.StringFlag{Name: "pool-product", Usage: "move only the seats of product `CODE`"},
					&ucli.StringFlag{Name: "out", Usage: "write the license to `FILE`", Required: true},
				),
				Action: e.deskUpdate,
			},
			{
				Name:      "release",
				Usage:     "accept a release receipt and return its seats to the default pool (A15)",
				ArgsUsage: "RECEIPT",
				Flags:     []ucli.Flag{dbFlag()},
				Action:    e.deskRelease,
			},
			{
				Name:  "release-stale",
				Usage: "release a machine that is gone, without a receipt (A21)",
				Flags: []ucli.Flag{dbFlag(),
					&ucli.StringFlag{Name: "activation", Usage: "activation `ID`", Required: true},
					&ucli.StringFlag{Name: "reason", Usage: "why, for the audit log", Required: true}},
				Action: e.deskAction(e.deskReleaseStale),
			},
			deskMoveCommand(e),
			deskBackupCommand(e),
			deskReassignCommand(e),
			deskAuditCommand(e),
			deskStaffCommand(e),
			{
				Name:  "approve",
				Usage: "let another e-mail address activate on an order (A8)",
				Flags: []ucli.Flag{dbFlag(),
					&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
					&ucli.StringFlag{Name: "email", Usage: "the e-mail `ADDRESS` to approve", Required: true},
					&ucli.BoolFlag{Name: "deny", Usage: "deny it instead"}},
				Action: e.deskAction(e.deskApprove),
			},
			{
				Name:  "pool",
				Usage: "create, resize, rename (--rename) or (with --seats 0) remove a named license pool of an order (A12)",
				Flags: []ucli.Flag{dbFlag(),
					&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
					&ucli.StringFlag{Name: "product", Usage: "product `CODE`", Required: true},
					&ucli.StringFlag{Name: "name", Usage: "pool `NAME`", Required: true},
					&ucli.Int64Flag{Name: "seats", Usage: "`N` seats (0 removes the pool)"},
					&ucli.StringFlag{Name: "rename", Usage: "rename the pool to `NEW`"}},
				Action: e.deskPool,
			},
			{
				Name:  "show",
				Usage: "show an order: seats, used, free, pools, activations",
				Flags: []ucli.Flag{dbFlag(),
					&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
					&ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: e.deskAction(e.deskShow),
			},
		},
	}
}

// actor names who ran a desk command, for the audit log.
func (e *env) actor() string {
	if u := e.getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// openDesk opens the ledger at --db and checks its schema.
func (e *env) openDesk(c *ucli.Context) (*desk.Desk, func(), error) {
	ctx := c.Context
	db, err := ledger.OpenExisting(ctx, c.String("db"))
	if err != nil {
		return nil, nil, err
	}
	if err := db.Check(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	name := desk.DefaultName
	if c.IsSet("desk-name") {
		name = c.String("desk-name")
	}
	return desk.New(db, desk.Options{Name: name}), func() { db.Close() }, nil
}

// deskAction is the Action of a desk command that takes no arguments and
// checks nothing before it needs the ledger: run gets the ledger at --db,
// which is closed when run returns. Commands that check flags or read
// files first open the ledger themselves, after those checks, so that a
// usage mistake is reported as one and a bad file touches no ledger.
func (e *env) deskAction(run func(*ucli.Context, *desk.Desk) error) ucli.ActionFunc {
	return func(c *ucli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		d, done, err := e.openDesk(c)
		if err != nil {
			return err
		}
		defer done()
		return run(c, d)
	}
}

func (e *env) vendorKey(c *ucli.Context) (ed25519.PrivateKey, error) {
	path := c.String("key")
	pass, err := e.passphrase(c, path, false)
	if err != nil {
		return nil, err
	}
	return keys.LoadPrivateKey(path, pass)
}

func (e *env) deskInit(c *ucli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	cat, err := desk.ReadCatalog(c.String("catalog"))
	if err != nil {
		return err
	}
	db, err := ledger.Open(c.Context, c.String("db"))
	if err != nil {
		return err
	}
	defer db.Close()
	from, to, err := db.Migrate(c.Context)
	if err != nil {
		return err
	}
	d := desk.New(db, desk.Options{})
	if err := d.LoadCatalog(c.Context, cat, e.actor()); err != nil {
		return fmt.Errorf("ledger %s: %w", db, err)
	}
	var vendors []ed25519.PublicKey
	for _, path := range c.StringSlice("vendor") {
		t, err := keys.LoadTrustSet(path)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", db, err)
		}
		vendors = append(vendors, trustedKeys(t)...)
	}
	if len(vendors) > 0 {
		if err := d.SetVendorKeys(c.Context, vendors, e.actor()); err != nil {
			return fmt.Errorf("ledger %s: %w", db, err)
		}
	}
	switch {
	case from == 0:
		fmt.Fprintf(e.stdout, "created the ledger %s (%s, schema %d)\n", db, db.Dialect(), to)
	case from < to:
		fmt.Fprintf(e.stdout, "migrated the ledger %s from schema %d to %d\n", db, from, to)
	default:
		fmt.Fprintf(e.stdout, "the ledger %s is up to date (schema %d)\n", db, to)
	}
	fmt.Fprintf(e.stdout, "loaded %d products from %s\n", len(cat.Products), c.String("catalog"))
	for _, v := range vendors {
		fmt.Fprintf(e.stdout, "vendor key %s: the desk signs with it and no other\n", keys.KeyID(v))
	}
	return nil
}

func (e *env) deskRotate(c *ucli.Context) error {
	path, data, err := fileArg(c, "one rotation statement FILE", "rotate")
	if err != nil {
		return err
	}
	d, done, err := e.openDesk(c)
	if err != nil {
		return err
	}
	defer done()
	st, err := d.Rotate(c.Context, data, e.actor())
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	if st.Add != nil {
		fmt.Fprintf(e.stdout, "the ledger lists vendor key %s\n", keys.KeyID(st.Add))
	} else {
		fmt.Fprintf(e.stdout, "the ledger no longer lists vendor key %s\n", keys.ID(st.Remove))
	}
	return nil
}

func (e *env) deskOrderAdd(c *ucli.Context, d *desk.Desk) error {
	l := desk.OrderLine{Order: c.String("order"), Fulfillment: c.String("fulfillment"), Email: c.String("email"),
		Product: c.String("product"), Seats: c.Int64("seats"), Expires: c.String("expires")}
	if err := d.AddOrder(c.Context, l, e.actor()); err != nil {
		return err
	}
	until := "perpetual"
	if l.Expires != "" {
		until = "until " + l.Expires
	}
	fmt.Fprintf(e.stdout, "order %s: %d × %s (%s)\n", l.Order, l.Seats, l.Product, until)
	return nil
}

func (e *env) deskOrderImport(c *ucli.Context) error {
	if err := requireArgs(c, 1, "one orders FILE"); err != nil {
		return err
	}
	path := c.Args().First()
	lines, err := desk.ReadOrders(path)
	if err != nil {
		return err
	}
	d, done, err := e.openDesk(c)
	if err != nil {
		return err
	}
	defer done()
	if err := d.ImportOrders(c.Context, lines, e.actor()); err != nil {
		return fmt.Errorf("orders %s: %w", path, err)
	}
	fmt.Fprintf(e.stdout, "imported %d order lines from %s\n", len(lines), path)
	return nil
}

// licenseName is the license file written for a request in --out-dir.
func licenseName(request string) string {
	base := filepath.Base(request)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	return base + ".license"
}

func (e *env) deskIssue(c *ucli.Context) error {
	out, outDir := c.String("out"), c.String("out-dir")
	switch {
	case c.NArg() == 0:
		return usagef("desk issue: want REQUEST files")
	case (out == "") == (outDir == ""):
		return usagef("desk issue: give either --out FILE (one request) or --out-dir DIR")
	case out != "" && c.NArg() != 1:
		return usagef("desk issue: --out takes one REQUEST; use --out-dir for several")
	}
	var in []desk.Input
	targets := map[string]string{}
	var order []string // the targets, in the order of the requests
	for _, path := range c.Args().Slice() {
		data, err := atomicfile.ReadCapped(path, signing.MaxFileSize)
		if err != nil {
			return fmt.Errorf("request %s: %w", path, err)
		}
		target := out
		if outDir != "" {
			target = filepath.Join(outDir, licenseName(path))
		}
		if other, dup := targets[target]; dup {
			return fmt.Errorf("requests %s and %s would both be answered in %s", other, path, target)
		}
		targets[target] = path
		order = append(order, target)
		in = append(in, desk.Input{Name: path, Data: data})
	}
	// Every output is checked before the ledger records anything: a seat
	// must not be taken for a license that cannot be written. The
	// directory of a batch is looked at once, then each file in it.
	if outDir != "" {
		if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
			return fmt.Errorf("--out-dir %s: not a directory", outDir)
		}
		for _, target := range order {
			if err := checkOutFile(target, c.Bool("force")); err != nil {
				return fmt.Errorf("license %w", err)
			}
		}
	} else if err := checkOut(c, out); err != nil {
		return fmt.Errorf("license %w", err)
	}
	var batch *atomicfile.Batch
	if outDir != "" {
		// The licenses' files are made (without names: nothing shows in
		// DIR) while the key is opened and the desk issues; a failure
		// discards them.
		batch = atomicfile.NewBatch(order, outputMode, c.Bool("force"))
		defer batch.Discard()
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
	issued, err := d.Issue(c.Context, vendor, in, desk.IssueOptions{Method: c.String("method"), Group: c.String("group"), Pool: c.String("pool"), Actor: e.actor(),
		PortalURL: c.String("portal-url")})
	if err != nil {
		return err
	}
	if outDir == "" {
		if err := writeOut(c, out, issued[0].File); err != nil {
			return fmt.Errorf("license %w (the ledger has recorded it: issue the same request again to get the same license)", err)
		}
		return e.reportIssued(c, issued[:1], func(desk.Issued) string { return out })
	}
	// The licenses of a batch are written together: each still atomic, with
	// one sync of their contents and one of the directory for all of them
	// instead of two fsyncs each (doc/desk.md says why that is enough).
	// The desk answers in the order of the requests, hence of order.
	data := make([][]byte, len(order))
	for i, is := range issued {
		if len(issued) != len(order) || filepath.Join(outDir, licenseName(is.Name)) != order[i] {
			return fmt.Errorf("license for %s: the desk answered out of order (the ledger has recorded it: issue the same requests again to get the same licenses)", is.Name)
		}
		data[i] = is.File
	}
	written, err := writeOutAll(c, batch, order, data)
	if rerr := e.reportIssued(c, issued[:written], func(is desk.Issued) string { return filepath.Join(outDir, licenseName(is.Name)) }); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("license %w (the ledger has recorded it: issue the same request again to get the same license)", err)
	}
	return nil
}

func (e *env) printIssued(is desk.Issued, target string) {
	printIssued(e.stdout, is, target)
}

func printIssued(w io.Writer, is desk.Issued, target string) {
	var codes []string
	for _, p := range is.License.Products {
		codes = append(codes, p.Code)
	}
	what := "updated"
	switch {
	case is.Repeat:
		what = "already answered, same license"
	case is.New:
		what = "new activation"
	}
	fmt.Fprintf(w, "%s: activation %s, license %d (%s), host %s: %s\n",
		target, is.Activation, is.Sequence, what, is.License.Host, strings.Join(codes, ", "))
}

func (e *env) deskUpdate(c *ucli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	target := c.String("out")
	if err := checkOut(c, target); err != nil {
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
	is, err := d.Update(c.Context, vendor, c.String("activation"), desk.Change{
		AddOrder: c.String("add-order"), Fulfillment: c.String("fulfillment"), Products: c.StringSlice("product"),
		Pool: c.String("pool"), PoolProduct: c.String("pool-product"), Actor: e.actor()})
	if err != nil {
		return err
	}
	if err := writeOut(c, target, is.File); err != nil {
		return fmt.Errorf("license %w (the ledger has recorded license %d; run oat desk update again for a newer one)", err, is.Sequence)
	}
	e.printIssued(*is, target)
	return nil
}

func (e *env) deskRelease(c *ucli.Context) error {
	path, data, err := fileArg(c, "one RECEIPT", "receipt")
	if err != nil {
		return err
	}
	d, done, err := e.openDesk(c)
	if err != nil {
		return err
	}
	defer done()
	rel, err := d.Release(c.Context, data)
	if err != nil {
		return fmt.Errorf("receipt %s: %w", path, err)
	}
	fmt.Fprintf(e.stdout, "released activation %s (host %s): %s\n", rel.Activation, rel.Host, releasedWhat(rel))
	return nil
}

func (e *env) deskReleaseStale(c *ucli.Context, d *desk.Desk) error {
	rel, err := d.ReleaseStale(c.Context, c.String("activation"), c.String("reason"), e.actor())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "released activation %s (host %s) by hand: %s\n", rel.Activation, rel.Host, releasedWhat(rel))
	return nil
}

// releasedWhat says where a release put each product's seats: back in the
// default pool (A15), or still used where each activation consumed one
// for good (B23).
func releasedWhat(rel *desk.Released) string {
	var back, kept []string
	for _, p := range rel.Products {
		if slices.Contains(rel.Consumed, p) {
			kept = append(kept, p)
		} else {
			back = append(back, p)
		}
	}
	var parts []string
	if len(back) > 0 {
		parts = append(parts, fmt.Sprintf("%s back in %q", strings.Join(back, ", "), ledger.DefaultPool))
	}
	if len(kept) > 0 {
		parts = append(parts, fmt.Sprintf("%s stays used (each deployment consumes its license, B23)", strings.Join(kept, ", ")))
	}
	if len(parts) == 0 {
		return "it held no seats"
	}
	return strings.Join(parts, "; ")
}

func (e *env) deskApprove(c *ucli.Context, d *desk.Desk) error {
	approve := !c.Bool("deny")
	if err := d.Decide(c.Context, c.String("order"), c.String("email"), approve, e.actor()); err != nil {
		return err
	}
	verb := "approved"
	if !approve {
		verb = "denied"
	}
	fmt.Fprintf(e.stdout, "%s %s for order %s\n", verb, c.String("email"), c.String("order"))
	return nil
}

func (e *env) deskPool(c *ucli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.IsSet("seats") == c.IsSet("rename") {
		// One change per command, so that a refused one changes nothing.
		return usagef("desk pool: give either --seats N or --rename NEW")
	}
	d, done, err := e.openDesk(c)
	if err != nil {
		return err
	}
	defer done()
	order, code, name := c.String("order"), c.String("product"), c.String("name")
	if c.IsSet("rename") {
		to := c.String("rename")
		if err := d.RenamePool(c.Context, order, code, name, to, e.actor()); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "order %s: pool %q of %s is now %q\n", order, name, code, to)
		return nil
	}
	if err := d.SetPool(c.Context, order, code, name, c.Int64("seats"), e.actor()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "order %s: pool %q of %s holds %d seats\n", order, name, code, c.Int64("seats"))
	return nil
}

func (e *env) deskShow(c *ucli.Context, d *desk.Desk) error {
	v, err := d.Show(c.Context, c.String("order"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printOrder(e, v)
	return nil
}

func printOrder(e *env, v *desk.OrderView) {
	fmt.Fprintf(e.stdout, "order %s  fulfillment %s  purchaser %s\n", v.Order, v.Fulfillment, orDash(v.Email))
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  PRODUCT\tMODEL\tSEATS\tUSED\tFREE\tEXPIRES\tUNITS USED")
	for _, l := range v.Products {
		units := "-"
		if l.Units > 0 {
			units = fmt.Sprint(l.Units)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\n", l.Code, l.Model, l.Seats, l.Used, l.Free, orDash(l.Expires), units)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout, "pools:")
	tw = tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	for _, p := range v.Pools {
		fmt.Fprintf(tw, "  %s\t%s\t%d seats\t%d used\n", p.Product, p.Name, p.Seats, p.Used)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout, "activations:")
	if len(v.Activations) == 0 {
		fmt.Fprintln(e.stdout, "  none")
	}
	tw = tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	for _, a := range v.Activations {
		group := ""
		if a.Group != "" {
			group = "group " + a.Group
		}
		email := a.Email
		switch a.Registration {
		case "verified":
			email += " (verified)"
		case "waiting":
			email += " (not verified)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tlicense %d\t%s\t%s\t%s\n", a.ID, a.Host, email, a.Method, a.Sequence, a.State, strings.Join(a.Products, ", "), group)
	}
	tw.Flush()
	for _, m := range v.Emails {
		fmt.Fprintf(e.stdout, "e-mail %s: %s\n", m.Email, m.State)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
