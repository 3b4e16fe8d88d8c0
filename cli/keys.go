package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/rotation"
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
				passphraseFlag(), weakPassphraseFlag(),
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
		}, {
			Name:  "rotate",
			Usage: "write a rotation statement: a trusted vendor key vouches for a new key, or for removing one",
			Description: "Signed by --key, which installations must trust already. Give it to every installation\n" +
				"(oat trust add FILE, or oat trust remove FILE for --remove). A key once removed is never\n" +
				"trusted again.",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "key", Usage: "the trusted vendor key `OLD.key` that signs the statement", Required: true},
				&ucli.StringFlag{Name: "new", Usage: "the vendor public key `NEW.pub` to trust from now on"},
				&ucli.StringFlag{Name: "remove", Usage: "the vendor public key `RETIRED.pub` to stop trusting"},
				&ucli.StringFlag{Name: "out", Usage: "write the statement to `FILE`", Required: true},
				passphraseFlag(),
			},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				if (c.String("new") == "") == (c.String("remove") == "") {
					return usageError{errors.New("keys rotate: give exactly one of --new and --remove")}
				}
				pubPath, remove := c.String("new"), false
				if pubPath == "" {
					pubPath, remove = c.String("remove"), true
				}
				out := c.String("out")
				if err := checkOut(c, out); err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				pub, err := keys.LoadPublicKey(pubPath)
				if err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				pass, err := e.passphrase(c, c.String("key"), false)
				if err != nil {
					return err
				}
				priv, err := keys.LoadPrivateKey(c.String("key"), pass)
				if err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				st, err := rotation.New(pub, remove, time.Now())
				if err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				data, err := rotation.Seal(st, priv)
				if err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				if err := writeOut(c, out, data); err != nil {
					return fmt.Errorf("keys rotate: %w", err)
				}
				what := "trust key " + keys.KeyID(pub).String()
				if remove {
					what = "stop trusting key " + keys.KeyID(pub).String()
				}
				fmt.Fprintf(e.stdout, "wrote %s: vendor key %s says to %s\n", out, keys.KeyID(priv.Public().(ed25519.PublicKey)), what)
				return nil
			},
		}},
	}
}
