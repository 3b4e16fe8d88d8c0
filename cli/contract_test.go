package cli

import (
	"fmt"

	"bytes"
	"github.com/rogpeppe/go-internal/testscript"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// The README's contract, tested over every command of the tree as it is
// when the test runs, so that commands added later are covered without
// anyone listing them: one line on stderr, exit 1 or 2, nothing changed.

// leafCommands returns the command paths ("desk order add") of every
// command that runs something, with its definition.
func leafCommands(t *testing.T) map[string]*ucli.Command {
	app := newApp(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
	out := map[string]*ucli.Command{}
	var walk func([]*ucli.Command, string)
	walk = func(cmds []*ucli.Command, parent string) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			path := strings.TrimSpace(parent + " " + c.Name)
			if len(c.Subcommands) > 0 {
				walk(c.Subcommands, path)
				continue
			}
			out[path] = c
		}
	}
	walk(app.Commands, "")
	if len(out) < 20 {
		t.Fatalf("only %d commands found in the tree", len(out))
	}
	return out
}

// runOat runs the CLI in this process and fails the test if it does not
// return within a minute (a command that waits for input or serves).
func runOat(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(append([]string{"oat"}, args...), strings.NewReader(""), &out, &errb) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("oat %s did not return", strings.Join(args, " "))
	}
	return code, out.String(), errb.String()
}

// contractEnv keeps commands away from this machine's real files.
func contractEnv(t *testing.T) {
	t.Setenv("OAT_PASSPHRASE", "")
	t.Setenv("OAT_SYSROOT", t.TempDir())
	t.Setenv("USER", "contract-test")
}

func oneLine(t *testing.T, what, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, "oat: ") {
		t.Errorf("%s: stderr is not one line \"oat: ...\":\n%s", what, stderr)
	}
	// Internals that mean nothing to an admin.
	for _, leak := range []string{".tmp-", "(14)", "stat ", "open ", "lstat ", "Incorrect Usage", "flag provided but not defined", "Required flag"} {
		if strings.Contains(stderr, leak) {
			t.Errorf("%s: stderr leaks %q: %s", what, leak, stderr)
		}
	}
}

func TestContractUnknownFlagIsUsageError(t *testing.T) {
	contractEnv(t)
	for path := range leafCommands(t) {
		args := append(strings.Fields(path), "--no-such-flag")
		code, stdout, stderr := runOat(t, args...)
		want := regexp.MustCompile(`^oat: ` + regexp.QuoteMeta(path) + `: unknown flag --no-such-flag \(see --help\)\n$`)
		if code != 2 || stdout != "" || !want.MatchString(stderr) {
			t.Errorf("oat %s --no-such-flag: exit %d, stdout %q, stderr %q; want exit 2 and one line matching %s", path, code, stdout, stderr, want)
		}
	}
}

// runsWithoutArguments are the commands that do something useful when given
// nothing at all.
var runsWithoutArguments = map[string]bool{"demo": true}

func TestContractMissingArgumentsAreUsageErrors(t *testing.T) {
	contractEnv(t)
	dir := t.TempDir()
	for path := range leafCommands(t) {
		if runsWithoutArguments[path] {
			continue
		}
		code, stdout, stderr := runOat(t, strings.Fields(path)...)
		switch {
		case code == 1 && !strings.Contains(stderr, "missing"):
			// A command with nothing required (portal hash-password) may
			// fail for want of input, as any failure: one line, exit 1.
		case code != 2 || stdout != "" || !strings.HasPrefix(stderr, "oat: "+path+": ") || !strings.HasSuffix(stderr, " (see --help)\n"):
			t.Errorf("oat %s alone: exit %d, stdout %q, stderr %q; want exit 2 and \"oat: %s: ... (see --help)\"", path, code, stdout, stderr, path)
		}
		oneLine(t, "oat "+path, stderr)
	}
	assertEmpty(t, dir)
}

func TestContractParentCommands(t *testing.T) {
	contractEnv(t)
	for _, tc := range []struct{ args, want string }{
		{"", `^oat: missing a command \(keys, init, .*\) \(see --help\)\n$`},
		{"desk", `^oat: desk: missing a command \(init, .*\) \(see --help\)\n$`},
		{"products --store X", `^oat: products: unknown flag --store; flags go after the command: oat products add\|.* \(see --help\)\n$`},
		{"frobnicate", `^oat: unknown command "frobnicate" \(see --help\)\n$`},
		{"desk frobnicate", `^oat: desk: unknown command "frobnicate" \(see --help\)\n$`},
		{"--bogus", `^oat: unknown flag --bogus \(see --help\)\n$`},
	} {
		code, stdout, stderr := runOat(t, strings.Fields(tc.args)...)
		if code != 2 || stdout != "" || !regexp.MustCompile(tc.want).MatchString(stderr) {
			t.Errorf("oat %s: exit %d, stdout %q, stderr %q; want exit 2 and %s", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if code, stdout, _ := runOat(t, "--help"); code != 0 || !strings.Contains(stdout, "offline activation toolkit") {
		t.Errorf("oat --help: exit %d, stdout %q", code, stdout)
	}
}

// Every command given files that do not exist fails with one line, and
// creates nothing: no ledger, no store, no output file.
func TestContractFailureChangesNothing(t *testing.T) {
	contractEnv(t)
	for path, cmd := range leafCommands(t) {
		if runsWithoutArguments[path] {
			continue
		}
		dir := t.TempDir()
		missing := filepath.Join(dir, "missing", "x")
		args := strings.Fields(path)
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			dg, ok := f.(ucli.DocGenerationFlag)
			if !ok || !dg.TakesValue() || name == "help" {
				continue
			}
			// In a directory that exists: a command that wrongly creates
			// its ledger, store or output would succeed in doing so.
			value := filepath.Join(dir, "absent-"+name)
			switch f.(type) {
			case *ucli.IntFlag, *ucli.Int64Flag, *ucli.UintFlag, *ucli.Uint64Flag, *ucli.Float64Flag:
				value = "1"
			case *ucli.DurationFlag:
				value = "1s"
			}
			if name == "listen" {
				value = "127.0.0.1:0"
			}
			args = append(args, "--"+name, value)
		}
		if cmd.ArgsUsage != "" && strings.TrimSpace(cmd.ArgsUsage) != "" {
			args = append(args, missing)
		}
		code, stdout, stderr := runOat(t, args...)
		if code != 1 && code != 2 {
			t.Errorf("oat %s: exit %d, want 1 or 2 (stdout %q, stderr %q)", strings.Join(args, " "), code, stdout, stderr)
		}
		oneLine(t, "oat "+strings.Join(args, " "), stderr)
		assertEmpty(t, dir)
	}
}

// Every command that writes a file has --force, and without it never
// replaces one (the writers' own tests show the refusal); the private key
// of keys generate is never replaced at all.
func TestContractForceOnEveryOut(t *testing.T) {
	for path, cmd := range leafCommands(t) {
		writes := hasFlag(cmd, "out") || hasFlag(cmd, "out-dir")
		if writes && !hasFlag(cmd, "force") && !neverForce[path] {
			t.Errorf("oat %s writes files but has no --force", path)
		}
		if neverForce[path] && hasFlag(cmd, "force") {
			t.Errorf("oat %s must never replace its output, but has --force", path)
		}
	}
}

func TestContractTypedControlCharacters(t *testing.T) {
	contractEnv(t)
	code, _, stderr := runOat(t, "desk", "order", "add", "--db", "x.db", "--order", "O-1\x1b[2J", "--fulfillment", "F", "--email", "a@b.c", "--product", "p", "--seats", "1")
	if code != 2 || stderr != "oat: desk order add: --order contains the control character \\x1b (see --help)\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runOat(t, "--version")
	if code != 0 || stderr != "" || !regexp.MustCompile(`^oat \S+, revision \S+.*, go1\.\d+`).MatchString(stdout) {
		t.Errorf("oat --version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("a failed command left %s in %s", e.Name(), dir)
	}
}

func init() {
	testCommands["oat-mode"] = func() { os.Exit(printMode(os.Args[1:])) }
}

// printMode is a test-only helper: `oat-mode FILE` prints the file's
// permission bits in octal.
func printMode(args []string) int {
	if len(args) != 1 {
		return 2
	}
	st, err := os.Stat(args[0])
	if err != nil {
		println(err.Error())
		return 1
	}
	fmt.Printf("%o\n", st.Mode().Perm())
	return 0
}

// TestScriptsContract runs the never-overwrite and nothing-changed rules as
// an admin types them.
func TestScriptsContract(t *testing.T) {
	runScripts(t, "contract", func(e *testscript.Env) error {
		e.Setenv("CATALOG", mustAbs("../examples/catalog.json"))
		e.Setenv("MACHINES", copyMachines(e))
		e.Setenv("OAT_PASSPHRASE", "contract test passphrase")
		return nil
	})
}

// A control character in outside text (here the host name a request
// carries, which reaches the ledger) is printed escaped by every command
// that shows it: show, desk issue, desk show, status.
func TestOutsideTextIsEscaped(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rack")
	if err := os.CopyFS(root, os.DirFS(mustAbs("../examples/machines/rack01"))); err != nil {
		t.Fatal(err)
	}
	const evil = "rack\x1b]0;owned\x07\x1b[2J01\u202e"
	if err := os.WriteFile(filepath.Join(root, "etc", "hostname"), []byte(evil+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OAT_SYSROOT", root)
	t.Setenv("OAT_PASSPHRASE", "escape test passphrase")
	p := func(name string) string { return filepath.Join(dir, name) }
	must := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runOat(t, args...)
		if code != 0 {
			t.Fatalf("oat %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		if strings.ContainsAny(stdout+stderr, "\x1b\x07\u202e") {
			t.Errorf("oat %s printed a raw control character: %q", strings.Join(args, " "), stdout)
		}
		return stdout
	}
	must("keys", "generate", "--out", p("vendor"))
	must("desk", "init", "--db", p("desk.db"), "--catalog", mustAbs("../examples/catalog.json"))
	must("desk", "order", "add", "--db", p("desk.db"), "--order", "O1", "--fulfillment", "F1", "--email", "it@example.com", "--product", "backup-server", "--seats", "1")
	os.Mkdir(p("settings"), 0o755)
	must("init", "--store", p("store"), "--trust", p("vendor.pub"))
	must("products", "add", "--store", p("store"), "--code", "backup-server", "--settings-dir", p("settings"))
	must("request", "--store", p("store"), "--order", "O1", "--fulfillment", "F1", "--email", "it@example.com", "--out", p("r.req"))
	escaped := `rack\x1b]0;owned\x07\x1b[2J01\u202e`
	for _, args := range [][]string{
		{"show", p("r.req")},
		{"desk", "issue", "--db", p("desk.db"), "--key", p("vendor.key"), "--out", p("r.lic"), p("r.req")},
		{"desk", "show", "--db", p("desk.db"), "--order", "O1"},
		{"install", "--store", p("store"), p("r.lic")},
		{"status", "--store", p("store")},
	} {
		out := must(args...)
		if args[0] != "install" && !strings.Contains(out, escaped) {
			t.Errorf("oat %s does not show the host name escaped:\n%s", strings.Join(args, " "), out)
		}
	}
}

// The completion scripts are generated from the command tree: bash really
// completes commands and flags with it, and every command path is in the
// PowerShell table.
func TestCompletion(t *testing.T) {
	code, script, stderr := runOat(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: %d %s", code, stderr)
	}
	for path := range leafCommands(t) {
		if !strings.Contains(script, fmt.Sprintf("%q)", path)) {
			t.Errorf("the bash script does not know %q", path)
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		for _, tc := range []struct{ words, want string }{
			{"oat des", "desk"},
			{"oat desk is", "issue"},
			{"oat desk issue --out-", "--out-dir"},
			{"oat products --store x ad", "add"},
		} {
			words := strings.Fields(tc.words)
			prog := script + fmt.Sprintf("\nCOMP_WORDS=(%s); COMP_CWORD=%d; _oat; echo \"${COMPREPLY[*]}\"\n", strings.Join(words, " "), len(words)-1)
			out, err := exec.Command(bash, "-c", prog).CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("bash completion of %q: %q %v, want %q", tc.words, out, err, tc.want)
			}
		}
	}
	for _, sh := range []string{"zsh", "powershell"} {
		code, script, _ := runOat(t, "completion", sh)
		if code != 0 || !strings.Contains(script, "desk issue") {
			t.Errorf("completion %s: exit %d", sh, code)
		}
	}
	if code, _, stderr := runOat(t, "completion", "fish"); code != 2 || !strings.Contains(stderr, `unknown shell "fish"`) {
		t.Errorf("completion fish: exit %d, %s", code, stderr)
	}
}

// TestOptionalCopiesEveryFlagType: a required flag of any type is reported
// by the contract's one-line usage error, and its original, which other
// commands may share, stays required.
func TestOptionalCopiesEveryFlagType(t *testing.T) {
	for _, f := range []ucli.Flag{
		&ucli.StringFlag{Name: "a", Required: true},
		&ucli.StringSliceFlag{Name: "a", Required: true},
		&ucli.BoolFlag{Name: "a", Required: true},
		&ucli.IntFlag{Name: "a", Required: true},
		&ucli.Int64Flag{Name: "a", Required: true},
		&ucli.Uint64Flag{Name: "a", Required: true},
		&ucli.DurationFlag{Name: "a", Required: true},
		&ucli.PathFlag{Name: "a", Required: true},
		seatsFlag("N seats"),
	} {
		opt := optional(f)
		if opt == nil {
			t.Errorf("%T: no optional copy", f)
			continue
		}
		if fmt.Sprintf("%T", opt) != fmt.Sprintf("%T", f) || opt.Names()[0] != f.Names()[0] {
			t.Errorf("%T: the copy is a %T named %v", f, opt, opt.Names())
		}
		if opt.(ucli.RequiredFlag).IsRequired() {
			t.Errorf("%T: the copy is still required", f)
		}
		if !f.(ucli.RequiredFlag).IsRequired() {
			t.Errorf("%T: the original is no longer required", f)
		}
	}
}
