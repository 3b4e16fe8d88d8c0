package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/termsafe"
)

// This file keeps the README's contract for every command at once, new ones
// included: it walks the command tree when the app is built, so a command
// added anywhere gets the same treatment without remembering to ask.
//
//   - A usage mistake (unknown flag, missing value, missing required flag, a
//     flag given to a parent command, a parent command alone) is one line,
//     "oat: <command>: <what> (see --help)", exit 2. urfave/cli would print
//     the whole help and then its own error; we handle it instead.
//   - A command with --out or --out-dir gets --force: without it no output
//     file is ever replaced (see outfile.go).
//   - Values the admin types must not hold control characters: they would
//     reach files, the ledger and other people's terminals.

// forceFlag lets an output replace an existing file.
func forceFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "force", Usage: "replace output files that already exist (without it, oat refuses)"}
}

// neverForce names the commands whose output must never be replaced, even
// on request: a vendor or installation private key lost to a typo cannot
// be recovered.
var neverForce = map[string]bool{"keys generate": true}

// enforceContract prepares every command under app (see above).
func enforceContract(app *ucli.App) {
	app.OnUsageError = func(_ *ucli.Context, err error, _ bool) error {
		return usageError{errors.New(flagProblem(err))}
	}
	prepareCommands(app.Commands, "")
}

func prepareCommands(cmds []*ucli.Command, parent string) {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		var subs []string
		for _, s := range cmd.Subcommands {
			subs = append(subs, s.Name)
		}
		cmd.OnUsageError = func(_ *ucli.Context, err error, _ bool) error {
			msg := flagProblem(err)
			if len(subs) > 0 && strings.HasPrefix(msg, "unknown flag") {
				// `oat products --store X`: the flag belongs to a subcommand.
				msg += "; flags go after the command: oat " + name + " " + strings.Join(subs, "|") + " ..."
			}
			return usageError{fmt.Errorf("%s: %s", name, msg)}
		}
		if len(cmd.Subcommands) > 0 {
			if cmd.Action == nil {
				cmd.Action = subcommandUsage
			}
			prepareCommands(cmd.Subcommands, name)
			continue
		}
		if (hasFlag(cmd, "out") || hasFlag(cmd, "out-dir")) && !hasFlag(cmd, "force") && !neverForce[name] {
			cmd.Flags = append(cmd.Flags, forceFlag())
		}
		required := relaxRequired(cmd)
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *ucli.Context) error {
				for _, f := range required {
					if !c.IsSet(f) {
						return usagef("%s: missing --%s", name, f)
					}
				}
				if err := checkTyped(c, cmd, name); err != nil {
					return err
				}
				return action(c)
			}
		}
	}
}

// relaxRequired replaces the command's required flags by optional copies
// and returns their names, so that the wrapped action reports a missing one
// as a one-line usage error instead of urfave/cli's help dump. The flags
// are copied, not changed: several commands share one flag value.
func relaxRequired(cmd *ucli.Command) []string {
	var names []string
	for i, f := range cmd.Flags {
		rf, ok := f.(ucli.RequiredFlag)
		if !ok || !rf.IsRequired() {
			continue
		}
		opt := optional(f)
		if opt == nil {
			// An unknown flag type keeps urfave/cli's own check; the
			// contract test over all commands reports it.
			continue
		}
		cmd.Flags[i] = opt
		names = append(names, f.Names()[0])
	}
	return names
}

// optional returns a copy of f that is not required, or nil if it cannot.
// Every urfave/cli v2 flag type is a pointer to a struct with a Required
// field, and none has a setter: reflection makes one copy serve them all,
// where a type switch would need a case, alike but for the type, for each.
func optional(f ucli.Flag) ucli.Flag {
	if cf, ok := f.(countFlag); ok {
		if opt, ok := optional(cf.Int64Flag).(*ucli.Int64Flag); ok {
			return countFlag{opt}
		}
		return nil
	}
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	required := cp.Elem().FieldByName("Required")
	if required.Kind() != reflect.Bool {
		return nil
	}
	required.SetBool(false)
	return cp.Interface().(ucli.Flag)
}

// checkTyped refuses control characters in the string values of flags: they
// are typed by the admin, and end up in requests, licenses and the ledger,
// where other people's terminals print them.
func checkTyped(c *ucli.Context, cmd *ucli.Command, name string) error {
	for _, f := range cmd.Flags {
		flag := f.Names()[0]
		var values []string
		switch f.(type) {
		case *ucli.StringFlag, *ucli.PathFlag:
			if c.IsSet(flag) {
				values = []string{c.String(flag)}
			}
		case *ucli.StringSliceFlag:
			values = c.StringSlice(flag)
		}
		for _, v := range values {
			if err := termsafe.Check(v); err != nil {
				return usagef("%s: --%s %s", name, flag, err)
			}
		}
	}
	return nil
}

func hasFlag(cmd *ucli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// flagProblem rewords the flag package's errors ("flag provided but not
// defined: -bogus") in the admin's words, with the flag spelled as typed.
func flagProblem(err error) string {
	msg := err.Error()
	dashes := func(s string) string { return "--" + strings.TrimLeft(strings.TrimSpace(s), "-") }
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined:"):
		return "unknown flag " + dashes(strings.TrimPrefix(msg, "flag provided but not defined:"))
	case strings.HasPrefix(msg, "flag needs an argument:"):
		return dashes(strings.TrimPrefix(msg, "flag needs an argument:")) + " needs a value"
	case strings.HasPrefix(msg, "invalid value "):
		// invalid value "x" for flag -seats: parse error
		rest := strings.TrimPrefix(msg, "invalid value ")
		val, flag, ok := strings.Cut(rest, " for flag ")
		if ok {
			flag, _, _ = strings.Cut(flag, ":")
			return "invalid value " + val + " for " + dashes(flag)
		}
	}
	return msg
}

// version describes this build from the module information the Go
// toolchain embeds: module version, VCS revision and Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "oat (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	rev, modified, when := "", false, ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		case "vcs.time":
			when = s.Value
		}
	}
	out := "oat " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += ", revision " + rev
		if modified {
			out += " (modified)"
		}
		if when != "" {
			out += " of " + when
		}
	} else {
		out += ", revision unknown"
	}
	return out + ", " + bi.GoVersion
}

// plainMessage is the one line Main prints for err. File system errors
// deep in a chain read "open nodir/.r.req.tmp-3081917886: no such file or
// directory": the system call and, for atomic writes, the temporary file's
// name mean nothing to an admin. They are cut to the reason, after the path
// the admin gave (which the message names already, or which replaces the
// system call's path when it does not).
func plainMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	for e := err; e != nil; {
		var pe *fs.PathError
		if !errors.As(e, &pe) {
			break
		}
		raw := pe.Op + " " + pe.Path + ": "
		if i := strings.Index(msg, raw); i >= 0 {
			before, replacement := msg[:i], ""
			temporary := strings.Contains(filepath.Base(pe.Path), ".tmp-")
			if !temporary && !strings.Contains(before, pe.Path) {
				replacement = pe.Path + ": "
			}
			msg = before + replacement + msg[i+len(raw):]
		}
		e = pe.Err
	}
	return msg
}
