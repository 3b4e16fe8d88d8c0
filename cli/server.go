package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/store"
)

// serverCommands are the isolated server's commands: the admin's side.
func serverCommands(e *env) []*ucli.Command {
	return []*ucli.Command{
		initCommand(e), productsCommand(e), requestCommand(e), installCommand(e),
		activateCommand(e), refreshCommand(e), statusCommand(e), checkCommand(e), deactivateCommand(e), trustCommand(e),
	}
}

func storeFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "store", Usage: "the installation's store `DIR`", Required: true}
}

// storeOptions reads where the machine identity and the trial marker live.
func (e *env) storeOptions() store.Options {
	root := e.getenv("OAT_SYSROOT")
	marker := ""
	if root == "" {
		root = "/"
		if runtime.GOOS == "windows" {
			if pd := e.getenv("ProgramData"); pd != "" {
				marker = filepath.Join(pd, "oat", "trial")
			}
		}
	}
	if marker == "" {
		marker = filepath.Join(root, "var", "lib", "oat", "trial")
	}
	return store.Options{Root: root, TrialMarker: marker, Now: e.now}
}

// withStore opens and locks the store for the length of fn.
func (e *env) withStore(c *ucli.Context, fn func(*store.Store) error) error {
	opts := e.storeOptions()
	// --force exists on the commands that write a file (request, deactivate).
	opts.Overwrite = c.Bool("force")
	s, err := store.Open(c.String("store"), opts)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func initCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "init",
		Usage: "create this server's installation: its key, the trusted vendor key(s), the machine salt",
		Description: "Creates DIR (mode 0700) with installation.key (encrypted with the passphrase, mode 0600),\n" +
			"installation.pub, trust.pem and state.json. Refuses to overwrite an existing installation.\n" +
			"The trial (30 days) starts now unless this machine started one earlier.",
		Flags: []ucli.Flag{
			storeFlag(),
			&ucli.StringSliceFlag{Name: "trust", Usage: "trust the vendor public key(s) in `VENDOR.pub` (repeatable)", Required: true},
			passphraseFlag(), weakPassphraseFlag(),
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			dir := c.String("store")
			var vendors []*keys.TrustSet
			var ids []string
			for _, path := range c.StringSlice("trust") {
				t, err := keys.LoadTrustSet(path)
				if err != nil {
					return fmt.Errorf("init %s: %w", dir, err)
				}
				vendors = append(vendors, t)
			}
			pubs := trustedKeys(vendors...)
			for _, p := range pubs {
				ids = append(ids, keys.KeyID(p).String())
			}
			pass, err := e.newKeyPassphrase(c, filepath.Join(dir, store.KeyFile))
			if err != nil {
				return err
			}
			if err := store.Init(dir, pubs, pass, e.storeOptions()); err != nil {
				return err
			}
			s, err := store.Open(dir, e.storeOptions())
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(e.stdout, "initialized the installation in %s\ninstallation key ID %s (%s)\ntrusted vendor key(s): %s\n",
				dir, keys.KeyID(s.PublicKey()), filepath.Join(dir, store.PubFile), strings.Join(ids, ", "))
			fmt.Fprintf(e.stdout, "next: oat products add --store %s --code CODE --settings-dir DIR, then oat request\n", dir)
			return nil
		},
	}
}

func trustedKeys(sets ...*keys.TrustSet) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, t := range sets {
		for _, id := range t.IDs() {
			k, _ := t.Lookup(id)
			out = append(out, k)
		}
	}
	return out
}

func trustCommand(e *env) *ucli.Command {
	apply := func(verb string, remove bool) func(c *ucli.Context) error {
		return func(c *ucli.Context) error {
			path, data, err := fileArg(c, "one rotation statement FILE", "trust "+verb)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte("-----BEGIN PUBLIC KEY-----")) {
				return fmt.Errorf("trust %s %s: a public key is not a rotation statement: trust changes only through a statement signed by a vendor key this installation trusts (the vendor writes one with oat keys rotate)", verb, path)
			}
			return e.withStore(c, func(s *store.Store) error {
				st, err := s.ApplyRotation(data, remove)
				if err != nil {
					return fmt.Errorf("trust %s %s: %w", verb, path, err)
				}
				if remove {
					fmt.Fprintf(e.stdout, "no longer trusting vendor key %s\n", keys.ID(st.Remove))
				} else {
					fmt.Fprintf(e.stdout, "trusting vendor key %s\n", keys.KeyID(st.Add))
				}
				return nil
			})
		}
	}
	return &ucli.Command{
		Name:   "trust",
		Usage:  "manage the vendor keys an installation trusts (key rotation)",
		Action: subcommandUsage,
		Subcommands: []*ucli.Command{{
			Name:  "add",
			Usage: "trust another vendor key, on a rotation statement signed by a trusted vendor key",
			Description: "FILE is a rotation statement (OAT ROTATION) the vendor wrote with oat keys rotate. It must\n" +
				"verify with a key this installation trusts now, through the chain from the keys given at\n" +
				"init. A public key alone is refused: an administrator cannot trust a key of their own.",
			ArgsUsage: "FILE",
			Flags:     []ucli.Flag{storeFlag()},
			Action:    apply("add", false),
		}, {
			Name:      "remove",
			Usage:     "stop trusting a vendor key, on a removal statement signed by a trusted vendor key",
			ArgsUsage: "FILE",
			Flags:     []ucli.Flag{storeFlag()},
			Action:    apply("remove", true),
		}, {
			Name:  "list",
			Usage: "list the trusted vendor key IDs",
			Flags: []ucli.Flag{storeFlag()},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return e.withStore(c, func(s *store.Store) error {
					for _, id := range s.Trusted().IDs() {
						note := ""
						if _, err := s.Roots().Lookup(id); err == nil {
							note = " (given at init)"
						}
						fmt.Fprintf(e.stdout, "%s%s\n", id, note)
					}
					return nil
				})
			},
		}},
	}
}

func productsCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:   "products",
		Usage:  "the co-installed products that receive a copy of the license (A9)",
		Action: subcommandUsage,
		Subcommands: []*ucli.Command{{
			Name:  "add",
			Usage: "register a product and its settings directory; copies the license there if activated",
			Flags: []ucli.Flag{
				storeFlag(),
				&ucli.StringFlag{Name: "code", Usage: "product `CODE`, e.g. backup-server", Required: true},
				&ucli.StringFlag{Name: "settings-dir", Usage: "the product's settings `PATH`, where " + store.CopyFile + " goes", Required: true},
			},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return e.withStore(c, func(s *store.Store) error {
					code := c.String("code")
					copied, err := s.AddProduct(code, c.String("settings-dir"))
					if err != nil {
						return err
					}
					p := s.Products()[len(s.Products())-1]
					fmt.Fprintf(e.stdout, "registered %s (settings in %s)\n", code, p.SettingsDir)
					if copied {
						fmt.Fprintf(e.stdout, "copied the installed license to %s\n", filepath.Join(p.SettingsDir, store.CopyFile))
						fmt.Fprintf(e.stdout, "note: the license covers %s only if the desk added it (A10); oat status shows the licensed products\n", code)
					}
					return nil
				})
			},
		}, {
			Name:      "remove",
			Usage:     "unregister a product (its license copy is left alone)",
			ArgsUsage: " ",
			Flags: []ucli.Flag{storeFlag(),
				&ucli.StringFlag{Name: "code", Usage: "product `CODE`", Required: true}},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return e.withStore(c, func(s *store.Store) error {
					if err := s.RemoveProduct(c.String("code")); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "unregistered %s\n", c.String("code"))
					return nil
				})
			},
		}, {
			Name:  "list",
			Usage: "list registered products and whether their license copy is in sync",
			Flags: []ucli.Flag{storeFlag(), &ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return e.withStore(c, func(s *store.Store) error {
					copies := s.Copies()
					if c.Bool("json") {
						return writeJSON(e.stdout, copies)
					}
					if len(copies) == 0 {
						fmt.Fprintln(e.stdout, "no products registered (add them with oat products add)")
						return nil
					}
					printCopies(e.stdout, copies)
					return nil
				})
			},
		}, {
			Name:  "sync",
			Usage: "repair license copies that are missing or stale",
			Flags: []ucli.Flag{storeFlag()},
			Action: func(c *ucli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return e.withStore(c, func(s *store.Store) error {
					before := s.Copies()
					after, err := s.Sync()
					repaired := 0
					for i, c := range after {
						if c.InSync && !before[i].InSync {
							repaired++
						}
					}
					fmt.Fprintf(e.stdout, "repaired %d of %d copies\n", repaired, len(after))
					printCopies(e.stdout, after)
					return err
				})
			},
		}},
	}
}

func printCopies(w io.Writer, copies []store.Copy) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	// The directory goes last: paths vary most in length.
	fmt.Fprintln(tw, "PRODUCT\tLICENSE COPY\tSETTINGS DIR")
	for _, c := range copies {
		state := "in sync"
		if !c.InSync {
			state = c.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Code, state, c.SettingsDir)
	}
	tw.Flush()
}

// requestFlags are what an admin tells a request, offline (oat request)
// and online (oat activate) alike: the three things of A1, and name,
// company and phone only if given (A3).
func requestFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "order", Usage: "order `ID`", Required: true},
		&ucli.StringFlag{Name: "fulfillment", Usage: "fulfillment `NUMBER`", Required: true},
		&ucli.StringFlag{Name: "email", Usage: "e-mail `ADDRESS` for the activation", Required: true},
		&ucli.StringFlag{Name: "name", Usage: "your `NAME` (optional)"},
		&ucli.StringFlag{Name: "company", Usage: "`COMPANY` (optional)"},
		&ucli.StringFlag{Name: "phone", Usage: "`PHONE` number (optional)"},
		&ucli.StringSliceFlag{Name: "product", Usage: "product `CODE` to activate (repeatable; default: every registered product)"},
	}
}

// requestInfo is what requestFlags were given.
func requestInfo(c *ucli.Context) store.RequestInfo {
	return store.RequestInfo{
		Order: c.String("order"), Fulfillment: c.String("fulfillment"), Email: c.String("email"),
		Name: c.String("name"), Company: c.String("company"), Phone: c.String("phone"),
		Products: c.StringSlice("product"),
	}
}

func requestCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "request",
		Usage: "write an activation request for the license desk, signed by this installation",
		Description: "Collects the order ID, fulfillment number and e-mail address (A1), name, company and phone\n" +
			"only if given (A3), this machine's hashed identity and a fresh nonce. Running it again\n" +
			"replaces the pending request: only the newest request's license will install.",
		Flags: slices.Concat([]ucli.Flag{storeFlag()}, requestFlags(), []ucli.Flag{
			&ucli.StringFlag{Name: "out", Usage: "write the request to `FILE`", Required: true},
			passphraseFlag(),
		}),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			out := c.String("out")
			info := requestInfo(c)
			if err := info.Validate(); err != nil {
				return fmt.Errorf("request %s: %w", out, err)
			}
			if err := checkOut(c, out); err != nil {
				return fmt.Errorf("request %w", err)
			}
			return e.withStore(c, func(s *store.Store) error {
				replacing := s.Pending() != nil
				pass, err := e.passphrase(c, filepath.Join(s.Dir(), store.KeyFile), false)
				if err != nil {
					return err
				}
				r, err := s.WriteRequest(out, info, pass)
				if err != nil {
					return fmt.Errorf("request %s: %w", out, err)
				}
				fmt.Fprintf(e.stdout, "wrote request %s for order %s, products %s\n", out, r.Order, strings.Join(r.Products, ", "))
				if replacing {
					fmt.Fprintln(e.stdout, "it replaces the earlier pending request: a license for that one will no longer install")
				}
				fmt.Fprintf(e.stdout, "carry it to the license portal, then run: oat install --store %s LICENSE-FILE\n", s.Dir())
				return nil
			})
		},
	}
}

func installCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:      "install",
		Usage:     "verify a license file and install it here and in every registered product",
		ArgsUsage: "FILE",
		Flags:     []ucli.Flag{storeFlag()},
		Action: func(c *ucli.Context) error {
			if err := requireArgs(c, 1, "one license FILE"); err != nil {
				return err
			}
			path := c.Args().First()
			return e.withStore(c, func(s *store.Store) error {
				res, err := s.InstallFile(path)
				if err != nil {
					return err
				}
				l := res.License
				if res.NoOp {
					fmt.Fprintf(e.stdout, "%s is already installed (license %d of activation %s): nothing changed\n", path, l.Sequence, l.Activation)
					return nil
				}
				var codes []string
				for _, p := range l.Products {
					codes = append(codes, p.Code)
				}
				fmt.Fprintf(e.stdout, "installed %s: license %d of activation %s, products %s\n", path, l.Sequence, l.Activation, strings.Join(codes, ", "))
				switch {
				case res.Replaced == 0:
				case res.ReplacedActivation != "" && res.ReplacedActivation != l.Activation:
					// A new activation's first license: nothing is
					// superseded, the old activation's license is gone.
					fmt.Fprintf(e.stdout, "it replaces license %d of the earlier activation %s\n", res.Replaced, res.ReplacedActivation)
				default:
					fmt.Fprintf(e.stdout, "it supersedes license %d\n", res.Replaced)
				}
				fmt.Fprintf(e.stdout, "copied to %d product(s): %s\n", len(res.Copied), strings.Join(res.Copied, ", "))
				if res.CopyError != nil {
					return fmt.Errorf("install %s: the license is installed, but a product copy failed (run oat products sync): %w", path, res.CopyError)
				}
				return nil
			})
		},
	}
}

func statusCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show whether this server is licensed, in trial, or expired, and the products' copies",
		Flags: []ucli.Flag{storeFlag(), &ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return e.withStore(c, func(s *store.Store) error {
				st, err := s.Status()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return writeJSON(e.stdout, st)
				}
				printStatus(e.stdout, st)
				return nil
			})
		},
	}
}

func printStatus(w io.Writer, st *store.Status) {
	switch st.State {
	case store.StateActive:
		fmt.Fprintf(w, "ACTIVE: license %d of activation %s (issued %s by %s)\n", st.LicenseSeq, st.Activation, dateOf(st.IssuedAt), st.Issuer)
	case store.StateGrace:
		fmt.Fprintf(w, "GRACE: license %d of activation %s works until %s, unless the server reaches the license portal (A5)\n", st.LicenseSeq, st.Activation, dateOf(st.Online.Suspends))
	case store.StateSuspended:
		fmt.Fprintf(w, "SUSPENDED: license %d of activation %s is suspended until the server reaches the license portal again (oat refresh, A5)\n", st.LicenseSeq, st.Activation)
	case store.StateExpired:
		fmt.Fprintf(w, "EXPIRED: license %d of activation %s is no longer in force\n", st.LicenseSeq, st.Activation)
	case store.StateTrial:
		fmt.Fprintf(w, "TRIAL: %d days left (started %s); activate with oat request and oat install\n", st.TrialDaysLeft, dateOf(st.TrialStarted))
	default:
		fmt.Fprintln(w, "UNLICENSED: no license in force here")
	}
	fmt.Fprintf(w, "host %s, %s %s", st.Host, st.Machine.OS, st.Machine.Class)
	if st.Machine.Hyper != "" {
		fmt.Fprintf(w, ", VM on %s", st.Machine.Hyper)
	}
	if st.Machine.Cloud != "" {
		fmt.Fprintf(w, ", in %s", st.Machine.Cloud)
	}
	fmt.Fprintf(w, "; installation key %s\n", st.InstallationID)
	if st.MachineCheck != "" {
		// The verdict in the evidence policy's terms (doc/server.md).
		fmt.Fprintf(w, "machine: %s\n", st.MachineCheck)
	}
	if len(st.Products) > 0 {
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tMODEL\tSEATS\tORDER\tEXPIRES\tSTATE")
		for _, p := range st.Products {
			// The product's verdict (package check), loud when it may not
			// run; an entitlement a renewal in the same license replaced
			// says so (A19).
			state := p.State
			switch {
			case p.Renewed:
				state = "ended, renewed"
			case !p.Licensed:
				state = strings.ToUpper(state)
			}
			exp := p.Expires
			if exp != "never" {
				exp = dateOf(exp)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.Code, p.Model, p.Seats, p.Order, exp, state)
		}
		tw.Flush()
	}
	if len(st.Copies) > 0 {
		printCopies(w, st.Copies)
	}
	if o := st.Online; o != nil {
		fmt.Fprintf(w, "online activation via %s: last contact %s, %s\n", o.Portal, dateOf(o.LastContact), o.State)
	}
	if p := st.PendingRequest; p != nil {
		fmt.Fprintf(w, "pending request %s (order %s, made %s) awaits its license\n", p.File, p.Order, dateOf(p.Created))
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func dateOf(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return rfc3339
	}
	return t.Format("2006-01-02")
}

func deactivateCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "deactivate",
		Usage: "give the license up: write a release receipt (or send it online) and remove the license here and from every product",
		Description: "Offline: --out FILE writes the receipt to carry to the license desk. Online (an installation\n" +
			"activated with oat activate): --portal URL sends it over HTTPS, and the license is removed only once\n" +
			"the desk confirmed; an online activation has no offline receipt (FAQ 3.11).",
		Flags: []ucli.Flag{
			storeFlag(),
			&ucli.StringFlag{Name: "out", Usage: "write the release receipt to `FILE` (offline activation)"},
			&ucli.StringFlag{Name: "portal", Usage: "send the receipt to the portal at `URL` (online activation)"},
			&ucli.StringFlag{Name: "reason", Usage: "a note for the license desk, e.g. \"moved to new hardware\""},
			caFlag(), proxyFlag(), timeoutFlag(), passphraseFlag(),
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			out := c.String("out")
			if (out == "") == (c.String("portal") == "") {
				return usagef("deactivate: give --out FILE (offline) or --portal URL (online)")
			}
			if out == "" {
				return e.withStore(c, func(s *store.Store) error { return e.deactivateOnline(c, s) })
			}
			if err := checkOut(c, out); err != nil {
				return fmt.Errorf("receipt %w", err)
			}
			return e.withStore(c, func(s *store.Store) error {
				if s.Installed() == nil {
					if s.LastReceipt() == nil {
						return fmt.Errorf("deactivate %s: %w", s.Dir(), store.ErrNoLicense)
					}
					// An earlier deactivation removed the license; its receipt
					// may not have reached the disk, so write it again.
					r, err := s.RewriteReceipt(out)
					if err != nil {
						return fmt.Errorf("deactivate %s: %w", out, err)
					}
					fmt.Fprintf(e.stdout, "no license is installed; wrote the receipt of the last deactivation again: %s (activation %s, license %d)\n", out, r.Activation, r.Sequence)
					return nil
				}
				pass, err := e.passphrase(c, filepath.Join(s.Dir(), store.KeyFile), false)
				if err != nil {
					return err
				}
				n := len(s.Products())
				r, err := s.Deactivate(out, c.String("reason"), pass)
				if err != nil {
					if errors.Is(err, keys.ErrWrongPassphrase) {
						return fmt.Errorf("deactivate: %w", err)
					}
					return fmt.Errorf("deactivate %s: %w", out, err)
				}
				fmt.Fprintf(e.stdout, "wrote release receipt %s (activation %s, license %d)\n", out, r.Activation, r.Sequence)
				fmt.Fprintf(e.stdout, "removed the license from %s and from %d product(s)\n", s.Dir(), n)
				fmt.Fprintln(e.stdout, "carry the receipt to the license desk to free the seat")
				return nil
			})
		},
	}
}
