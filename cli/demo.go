package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/examples"
)

func demoCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "demo",
		Usage: "run the whole flow in a temporary directory: vendor key, desk, order, server, request, issue, install, update, release",
		Description: "Every step is a real oat command, run in this process on files in a temporary directory\n" +
			"(kept with --keep). The desk's ledger is SQLite with the example catalog; the server is a\n" +
			"made-up rack server (its identity files under OAT_SYSROOT in the directory), so the demo\n" +
			"runs the same on any machine.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "dir", Usage: "run in `DIR` (must be empty or missing) instead of a temporary directory"},
			&ucli.BoolFlag{Name: "keep", Usage: "keep the temporary directory and print where it is"},
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return e.demo(c.String("dir"), c.Bool("keep"))
		},
	}
}

// demoMachine is the fake system root the demo's server reads its
// identity from: a two-socket rack server.
var demoMachine = map[string]string{
	"etc/hostname":                     "demo-srv01\n",
	"etc/machine-id":                   "5f1c0a9e6b2d4c7a8e3f0b1d2c4a6e8f\n",
	"proc/cpuinfo":                     "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\nphysical id\t: 0\nflags\t\t: fpu vme de pse\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\nphysical id\t: 1\nflags\t\t: fpu vme de pse\n",
	"sys/class/net/eth0/address":       "b0:83:fe:12:34:56\n",
	"sys/class/net/eth0/device/uevent": "DRIVER=e1000e\n",
	"sys/class/dmi/id/product_uuid":    "4C4C4544-0044-3910-8051-B7C04F4E3232\n",
	"sys/class/dmi/id/product_serial":  "DEMO123\n",
	"sys/class/dmi/id/board_serial":    ".DEMOBOARD01.\n",
	"sys/class/dmi/id/sys_vendor":      "Dell Inc.\n",
	"sys/class/dmi/id/product_name":    "PowerEdge R740\n",
	"sys/class/dmi/id/bios_vendor":     "Dell Inc.\n",
	"sys/class/dmi/id/chassis_type":    "23\n",
}

// demoPassphrase protects the demo's throwaway vendor key. It is set in the
// demo's own environment, never in the process's.
const demoPassphrase = "demo passphrase, for this temporary key only"

func (e *env) demo(dir string, keep bool) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "oat-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		dir = tmp
		if !keep {
			defer os.RemoveAll(tmp)
		}
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
			return fmt.Errorf("demo: %s is not an empty directory", dir)
		}
	}
	sysroot := filepath.Join(dir, "machine")
	for rel, content := range demoMachine {
		p := filepath.Join(sysroot, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	// The products' own directories, where their license copies go.
	for _, prod := range []string{"backup-server", "replica-server", "backup-virtual"} {
		if err := os.MkdirAll(filepath.Join(dir, "server", prod), 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	catalog := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(catalog, examples.Catalog(), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	d := &demoRun{parent: e, dir: dir, sub: &env{
		stdin: strings.NewReader(""),
		getenv: func(k string) string {
			switch k {
			case "OAT_PASSPHRASE":
				return demoPassphrase
			case "OAT_SYSROOT":
				return sysroot
			case "USER":
				return "demo"
			}
			return ""
		},
	}}
	p := func(name string) string { return filepath.Join(dir, name) }
	db, store := p("desk.db"), p("server/store")

	fmt.Fprintf(e.stdout, "oat demo: the whole offline activation flow, in %s\n", dir)
	fmt.Fprintf(e.stdout, "(the server is a made-up rack server, demo-srv01, read from %s via OAT_SYSROOT)\n", sysroot)

	d.step("The vendor creates its signing key (the passphrase comes from OAT_PASSPHRASE)")
	d.run("keys", "generate", "--out", p("vendor"))

	d.step("The license desk creates its ledger (SQLite) with the example catalog")
	d.run("desk", "init", "--db", db, "--catalog", catalog)

	d.step("A customer buys Backup Server and Replica Server on one order (A2): one order ID and fulfillment number")
	d.run("desk", "order", "add", "--db", db, "--order", "ORD-1001", "--fulfillment", "FN-1001-A", "--email", "it@example.com", "--product", "backup-server", "--seats", "2")
	d.run("desk", "order", "add", "--db", db, "--order", "ORD-1001", "--fulfillment", "FN-1001-A", "--email", "it@example.com", "--product", "replica-server", "--seats", "2")

	d.step("On the isolated server: set up the installation, trusting the vendor's public key")
	d.run("init", "--store", store, "--trust", p("vendor.pub"))

	d.step("Both products are installed on this server (A9): register where each keeps its license copy")
	d.run("products", "add", "--store", store, "--code", "backup-server", "--settings-dir", p("server/backup-server"))
	d.run("products", "add", "--store", store, "--code", "replica-server", "--settings-dir", p("server/replica-server"))

	d.step("The server admin writes an activation request (order ID, fulfillment number, e-mail: A1)")
	d.run("request", "--store", store, "--order", "ORD-1001", "--fulfillment", "FN-1001-A", "--email", "it@example.com", "--out", p("activation.request"))

	d.step("The operator carries the request to the desk, which checks it and signs a license")
	d.run("desk", "issue", "--db", db, "--key", p("vendor.key"), "--out", p("activation.license"), p("activation.request"))

	d.step("Back on the server: install the license; it is copied to both products")
	d.run("install", "--store", store, p("activation.license"))
	d.run("status", "--store", store)

	activation := d.activationID(db, "ORD-1001")

	d.step("Later the server becomes a hypervisor host and Backup Virtual is bought on a new order")
	d.run("desk", "order", "add", "--db", db, "--order", "ORD-2002", "--fulfillment", "FN-2002-B", "--email", "it@example.com", "--product", "backup-virtual", "--seats", "1")
	d.run("products", "add", "--store", store, "--code", "backup-virtual", "--settings-dir", p("server/backup-virtual"))

	d.step("The desk adds the new order to the existing activation (A10): no new request needed")
	d.run("desk", "update", "--db", db, "--key", p("vendor.key"), "--activation", activation, "--add-order", "ORD-2002", "--fulfillment", "FN-2002-B", "--out", p("update.license"))

	d.step("The server installs the updated license (a higher sequence supersedes the old one)")
	d.run("install", "--store", store, p("update.license"))
	d.run("status", "--store", store)

	d.step("The server is retired: deactivate it, which writes a release receipt")
	d.run("deactivate", "--store", store, "--out", p("release.receipt"))

	d.step("The desk takes the receipt: the seats go back to the default pool (A15) for another server (A16)")
	d.run("desk", "release", "--db", db, p("release.receipt"))
	d.run("desk", "show", "--db", db, "--order", "ORD-1001")

	if d.err != nil {
		return d.err
	}
	fmt.Fprintf(e.stdout, "\nDone: every step above was a real oat command.")
	if keep {
		fmt.Fprintf(e.stdout, " The files are in %s.\n", dir)
	} else {
		fmt.Fprintln(e.stdout, " The temporary directory was removed (use --keep to look at the files).")
	}
	return nil
}

// demoRun runs the demo's commands in-process, stopping at the first error.
type demoRun struct {
	parent *env
	sub    *env
	dir    string
	n      int
	err    error
}

func (d *demoRun) step(title string) {
	if d.err != nil {
		return
	}
	d.n++
	fmt.Fprintf(d.parent.stdout, "\n== %d. %s\n", d.n, title)
}

// run runs one oat command and prints it, with its output indented.
func (d *demoRun) run(args ...string) string {
	if d.err != nil {
		return ""
	}
	shown := make([]string, len(args))
	for i, a := range args {
		if rel, err := filepath.Rel(d.dir, a); err == nil && !strings.HasPrefix(rel, "..") && filepath.IsAbs(a) {
			a = rel
		}
		shown[i] = a
	}
	fmt.Fprintf(d.parent.stdout, "$ oat %s\n", strings.Join(shown, " "))
	var out bytes.Buffer
	d.sub.stdout, d.sub.stderr = &out, &out
	app := newApp(d.sub)
	err := app.Run(interspersed(app, append([]string{"oat"}, args...)))
	text := strings.ReplaceAll(out.String(), d.dir+string(filepath.Separator), "")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(d.parent.stdout, "    %s\n", line)
		}
	}
	if err != nil {
		d.err = fmt.Errorf("demo step %d (oat %s): %w", d.n, strings.Join(shown[:min(2, len(shown))], " "), err)
	}
	return out.String()
}

// activationID reads the activation of an order from `oat desk show --json`.
func (d *demoRun) activationID(db, order string) string {
	if d.err != nil {
		return ""
	}
	var out bytes.Buffer
	d.sub.stdout, d.sub.stderr = &out, &out
	app := newApp(d.sub)
	if err := app.Run([]string{"oat", "desk", "show", "--db", db, "--order", order, "--json"}); err != nil {
		d.err = fmt.Errorf("demo: %w", err)
		return ""
	}
	var v struct {
		Activations []struct {
			ID string `json:"id"`
		} `json:"activations"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || len(v.Activations) != 1 {
		d.err = errors.New("demo: the desk does not show one activation for the order")
		return ""
	}
	return v.Activations[0].ID
}
