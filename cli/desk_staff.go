package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/portal"
)

// deskStaffCommand manages the desk staff who sign in to the portal, each
// with their own password, so that the audit log names a person.
func deskStaffCommand(e *env) *ucli.Command {
	nameFlag := &ucli.StringFlag{Name: "name", Usage: "the staff member's `NAME`, as the audit log shows it", Required: true}
	weakFlag := &ucli.BoolFlag{Name: "weak", Usage: fmt.Sprintf("accept a password shorter than %d characters", portal.MinPasswordLength)}
	return &ucli.Command{
		Name:   "staff",
		Usage:  "the desk staff who sign in to the portal's staff area",
		Action: subcommandUsage,
		Subcommands: []*ucli.Command{{
			Name:  "add",
			Usage: "add a staff member with their own password",
			Description: "The password is read like a key passphrase: --passphrase-file, $OAT_PASSPHRASE,\n" +
				fmt.Sprintf("or a prompt (asked twice). It must be at least %d characters unless --weak is given.\n", portal.MinPasswordLength) +
				"The ledger keeps only its argon2id hash.",
			Flags:  []ucli.Flag{dbFlag(), nameFlag, weakFlag, passphraseFlag()},
			Action: e.deskAction(e.deskStaffAdd),
		}, {
			Name:        "passwd",
			Usage:       "give a staff member a new password; every session they have ends",
			Description: "The password is read as for oat desk staff add.",
			Flags:       []ucli.Flag{dbFlag(), nameFlag, weakFlag, passphraseFlag()},
			Action:      e.deskAction(e.deskStaffPasswd),
		}, {
			Name:   "remove",
			Usage:  "remove a staff member; every session they have ends",
			Flags:  []ucli.Flag{dbFlag(), nameFlag},
			Action: e.deskAction(e.deskStaffRemove),
		}, {
			Name:   "list",
			Usage:  "list the staff members and how many sessions each has open",
			Flags:  []ucli.Flag{dbFlag(), &ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: e.deskAction(e.deskStaffList),
		}},
	}
}

// staffPassword reads a staff member's new password and returns its hash.
// A short one is refused unless --weak, then accepted with a warning.
func (e *env) staffPassword(c *ucli.Context, name string) (string, error) {
	pw, err := e.passphrase(c, "staff member "+name, true)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCount(pw); n < portal.MinPasswordLength {
		if !c.Bool("weak") {
			return "", fmt.Errorf("the password for %s is %d characters, shorter than %d: choose a longer one (or give --weak)", name, n, portal.MinPasswordLength)
		}
		fmt.Fprintf(e.stderr, "oat: warning: the password for %s is shorter than %d characters\n", name, portal.MinPasswordLength)
	}
	return portal.HashPassword(pw, portal.DefaultPasswordParams)
}

func (e *env) deskStaffAdd(c *ucli.Context, d *desk.Desk) error {
	name := c.String("name")
	hash, err := e.staffPassword(c, name)
	if err != nil {
		return err
	}
	if err := d.AddStaff(c.Context, name, hash, e.actor()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staff member %s added\n", name)
	return nil
}

func (e *env) deskStaffPasswd(c *ucli.Context, d *desk.Desk) error {
	name := c.String("name")
	hash, err := e.staffPassword(c, name)
	if err != nil {
		return err
	}
	ended, err := d.SetStaffPassword(c.Context, name, hash, e.actor())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staff member %s has a new password; %d session(s) ended\n", name, ended)
	return nil
}

func (e *env) deskStaffRemove(c *ucli.Context, d *desk.Desk) error {
	name := c.String("name")
	if err := d.RemoveStaff(c.Context, name, e.actor()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staff member %s removed\n", name)
	return nil
}

func (e *env) deskStaffList(c *ucli.Context, d *desk.Desk) error {
	ms, err := d.Staff(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if ms == nil {
			ms = []desk.StaffMember{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ms)
	}
	if len(ms) == 0 {
		fmt.Fprintln(e.stdout, "no staff members: add one with oat desk staff add")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDED\tPASSWORD SET\tSESSIONS")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m.Name, m.Created, m.PasswordSet, m.Sessions)
	}
	return tw.Flush()
}
