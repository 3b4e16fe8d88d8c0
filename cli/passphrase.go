package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/oat-toolkit/oat/keys"
)

// passphraseFlag is --passphrase-file, shared by every command that opens a key.
func passphraseFlag() ucli.Flag {
	return &ucli.StringFlag{
		Name:  "passphrase-file",
		Usage: "read the key passphrase from the first line of `FILE` (else $OAT_PASSPHRASE, else a prompt)",
	}
}

// passphrase returns the key passphrase: from --passphrase-file, then from
// $OAT_PASSPHRASE, then from a no-echo prompt when stdin is a terminal.
// confirm asks twice at the prompt, for new keys.
func (e *env) passphrase(c *ucli.Context, what string, confirm bool) ([]byte, error) {
	if path := c.String("passphrase-file"); path != "" {
		data, err := readPassphraseFile(path)
		if err != nil {
			return nil, fmt.Errorf("passphrase file %s: %w", path, err)
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return nil, fmt.Errorf("passphrase file %s: the first line is empty", path)
		}
		return line, nil
	}
	if p := e.getenv("OAT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("no passphrase: set OAT_PASSPHRASE, use --passphrase-file, or run on a terminal to be asked")
	}
	fmt.Fprintf(e.stderr, "Passphrase for %s: ", what)
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	if confirm {
		fmt.Fprintf(e.stderr, "Repeat the passphrase: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passphrases differ")
		}
	}
	return p, nil
}

// weakPassphraseFlag lets a new key be protected by a short passphrase,
// for throwaway keys; oat still warns.
func weakPassphraseFlag() ucli.Flag {
	return &ucli.BoolFlag{
		Name:  "allow-weak-passphrase",
		Usage: fmt.Sprintf("accept a passphrase shorter than %d characters for the new key (not recommended)", keys.MinPassphrase),
	}
}

// newKeyPassphrase returns the passphrase for a new private key: asked
// twice at a prompt, and refused when it is too short unless
// --allow-weak-passphrase is given, in which case oat warns.
func (e *env) newKeyPassphrase(c *ucli.Context, what string) ([]byte, error) {
	pass, err := e.passphrase(c, what, true)
	if err != nil {
		return nil, err
	}
	if err := keys.CheckPassphrase(pass); err != nil {
		if !c.Bool("allow-weak-passphrase") {
			return nil, fmt.Errorf("%s: %w; choose a longer one (or give --allow-weak-passphrase for a throwaway key)", what, err)
		}
		fmt.Fprintf(e.stderr, "warning: %s: %v; anyone who copies the key file can guess it offline\n", what, err)
	}
	return pass, nil
}

// readPassphraseFile reads the start of path. Unlike the files oat reads
// from others, a pipe is welcome here: --passphrase-file <(pass show oat)
// hands the secret over without writing it to disk.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathReason(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, pathReason(err)
	}
	return data, nil
}
