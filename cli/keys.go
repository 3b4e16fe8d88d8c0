package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/keys"
)

func keysCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:   "keys",
		Usage:  "manage Ed25519 signing keys",
		Action: subcommandUsage,
		Subcommands: []*ucli.Command{{
			Name:  "generate",
			Usage: "create a key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub (PEM SPKI)",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "out", Usage: "write `PREFIX`.key and PREFIX.pub", Required: true},
				passphraseFlag, weakPassphraseFlag,
			},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				prefix := c.String("out")
				pass, err := e.newKeyPassphrase(c, prefix+".key")
				if err != nil {
					return err
				}
				pub, err := keys.GenerateFiles(prefix, pass, keys.DefaultKDF)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "wrote %s.key (private, encrypted) and %s.pub (public)\nkey ID %s\n", prefix, prefix, keys.KeyID(pub))
				return nil
			},
		}},
	}
}
