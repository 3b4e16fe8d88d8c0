package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/ledger"
)

// deskBackupCommand is `oat desk backup`: a consistent copy of a SQLite
// ledger, safe to take while desks and the portal work.
func deskBackupCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "backup",
		Usage: "copy a SQLite ledger consistently while it is in use (PostgreSQL: use pg_dump)",
		Description: "Writes one consistent snapshot of the ledger to FILE (SQLite VACUUM INTO, mode 0600), while\n" +
			"desks and the portal keep working. To restore, stop the portal and put FILE in place of the\n" +
			"ledger (or give it as --db). Back up the vendor key (VENDOR.key and its passphrase) separately:\n" +
			"the ledger does not hold it. See doc/desk.md for PostgreSQL (pg_dump, pg_restore).",
		Flags: []ucli.Flag{dbFlag(),
			&ucli.StringFlag{Name: "out", Usage: "write the backup to `FILE`", Required: true}},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			out := c.String("out")
			if err := checkOut(c, out); err != nil {
				return fmt.Errorf("backup %w", err)
			}
			db, err := ledger.OpenExisting(c.Context, c.String("db"))
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Check(c.Context); err != nil {
				return err
			}
			if err := db.Backup(c.Context, out, c.Bool("force")); err != nil {
				return err
			}
			size := int64(0)
			if st, err := os.Stat(out); err == nil {
				size = st.Size()
			}
			fmt.Fprintf(e.stdout, "backed up the ledger %s to %s (%d bytes, schema %d)\n", db, out, size, ledger.SchemaVersion)
			return nil
		},
	}
}
