// Package cli wires oat's packages into the `oat` command line. All command
// definitions live here; the logic they call lives in the other packages so
// that other Go programs can use it without the CLI.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/signing"
	"github.com/oat-toolkit/oat/termsafe"
)

// env is what a command may touch of the outside world. Commands read it
// instead of globals so that tests can run many of them in one process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// now is the clock the server's commands judge by; nil means the wall
	// clock. Tests set it to walk the A5 timeline day by day.
	now func() time.Time
	// dial, if set, replaces the network dialer of every call to a
	// portal: tests count calls, and prove there are none.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Main runs the oat command line with args (args[0] is the program name)
// and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Everything oat prints goes through termsafe: a control character from
	// a request, a license or the ledger is shown escaped, never executed by
	// the terminal.
	out, errOut := termsafe.NewWriter(stdout), termsafe.NewWriter(stderr)
	defer out.Flush()
	defer errOut.Flush()
	return (&env{stdin: stdin, stdout: out, stderr: errOut, getenv: os.Getenv}).run(args)
}

// run runs the command line in e.
func (e *env) run(args []string) int {
	errOut := e.stderr
	app := newApp(e)
	if err := app.Run(interspersed(app, args)); err != nil {
		fmt.Fprintf(errOut, "oat: %s\n", plainMessage(err))
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func newApp(e *env) *ucli.App {
	app := &ucli.App{
		Name:                 "oat",
		Usage:                "offline activation toolkit: license requests, issuing and installing for isolated servers",
		HideVersion:          true,
		EnableBashCompletion: false,
		Reader:               e.stdin,
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		Flags:                []ucli.Flag{&ucli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and Go version"}},
		// A word that is no command is a usage error, not a help topic.
		Action: func(c *ucli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(e.stdout, version())
				return nil
			}
			return subcommandUsage(c)
		},
		// Errors are printed once, by Main, as one line.
		ExitErrHandler: func(*ucli.Context, error) {},
	}
	// In the order of the flow: keys, the server's commands, the desk, the
	// portal, then inspection and the demo.
	app.Commands = append(app.Commands, keysCommand(e))
	app.Commands = append(app.Commands, serverCommands(e)...)
	app.Commands = append(app.Commands, deskCommand(e), portalCommand(e), productKeyCommand(e), showCommand(e), demoCommand(e))
	app.Commands = append(app.Commands, completionCommand(e))
	enforceContract(app)
	return app
}

// usageError marks a mistake in how a command was called (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() + " (see --help)" }
func (u usageError) Unwrap() error { return u.err }

// usagef returns a usage error with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// requireArgs returns a usage error unless exactly n positional arguments were given.
func requireArgs(c *ucli.Context, n int, what string) error {
	if c.NArg() != n {
		return usagef("%s: want %s", c.Command.FullName(), what)
	}
	return nil
}

// noArgs returns a usage error if positional arguments were given.
func noArgs(c *ucli.Context) error {
	if c.NArg() != 0 {
		return usagef("%s: unexpected argument %q", c.Command.FullName(), c.Args().First())
	}
	return nil
}

// fileArg reads the one file a command takes as its argument (want names it
// in the usage error), capped at the size of an oat file before it is
// read. Its other errors begin with what and the file's path.
func fileArg(c *ucli.Context, want, what string) (path string, data []byte, err error) {
	if err := requireArgs(c, 1, want); err != nil {
		return "", nil, err
	}
	path = c.Args().First()
	data, err = atomicfile.ReadCapped(path, signing.MaxFileSize)
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return path, data, nil
}

// subcommandUsage lets commands with subcommands reject unknown ones clearly.
func subcommandUsage(c *ucli.Context) error {
	if c.NArg() > 0 {
		if c.Command == nil || c.Command.Name == c.App.Name {
			return usagef("unknown command %q", c.Args().First())
		}
		return usagef("%s: unknown command %q", c.Command.FullName(), c.Args().First())
	}
	// A parent command alone is a usage mistake too: say what could follow.
	var names []string
	cmds := c.App.Commands
	if c.Command != nil && c.Command.Name != c.App.Name {
		cmds = c.Command.Subcommands
	}
	for _, s := range cmds {
		if !s.Hidden && s.Name != "help" {
			names = append(names, s.Name)
		}
	}
	if c.Command == nil || c.Command.Name == c.App.Name {
		return usagef("missing a command (%s)", strings.Join(names, ", "))
	}
	return usagef("%s: missing a command (%s)", c.Command.FullName(), strings.Join(names, ", "))
}
