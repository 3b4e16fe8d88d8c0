package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/portalclient"
	"github.com/oat-toolkit/oat/store"
)

// The flags of the commands that reach the portal (FAQ 2.2).
func caFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "ca", Usage: "trust the CA certificate(s) in PEM `FILE` for the portal, besides the system roots"}
}

func proxyFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "proxy", Usage: "reach the portal through the proxy at `URL` (default: $HTTPS_PROXY, $NO_PROXY)"}
}

func timeoutFlag() ucli.Flag {
	return &ucli.DurationFlag{Name: "timeout", Usage: "give up a call to the portal after `DURATION`", Value: portalclient.DefaultTimeout}
}

// portalClient returns a client for the portal at link.
func (e *env) portalClient(c *ucli.Context, link store.Link) (*portalclient.Client, error) {
	return portalclient.New(portalclient.Config{URL: link.Portal, CAFile: link.CAFile, Proxy: link.Proxy,
		Getenv: e.getenv, Timeout: c.Duration("timeout"), DialContext: e.dial})
}

// linkFlags reads --portal, --ca and --proxy, with the CA file made
// absolute so that oat refresh finds it from any directory.
func linkFlags(c *ucli.Context) (store.Link, error) {
	l := store.Link{Portal: strings.TrimSuffix(c.String("portal"), "/"), Proxy: c.String("proxy")}
	if _, err := portalclient.CheckURL(l.Portal); err != nil {
		return l, usagef("%w", err)
	}
	if ca := c.String("ca"); ca != "" {
		abs, err := filepath.Abs(ca)
		if err != nil {
			return l, err
		}
		l.CAFile = abs
	}
	return l, nil
}

// portalError words a failed call for the admin: the portal's own reason
// for a refusal, or why it could not be reached, and that nothing changed.
func portalError(what string, err error) error {
	var refused *portalclient.RefusedError
	if errors.As(err, &refused) {
		return fmt.Errorf("%s: %w (nothing changed here)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func activateCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "activate",
		Usage: "activate online: write the request, send it to the portal over HTTPS, install the license, copy it",
		Description: "The request is the one oat request writes (A1, A3). The portal records the activation as online\n" +
			"(A11); the license is installed with every check oat install makes and copied to every registered\n" +
			"product (A9). Then run oat refresh daily (A5). A refusal by the portal is shown with its reason and\n" +
			"changes nothing here. Run again after a dropped connection: the desk knows this installation, so\n" +
			"no second seat is taken. On an installation activated online, --email NEW changes the activation's\n" +
			"e-mail address at the desk, subject to the purchaser's approval (A8).",
		Flags: slices.Concat([]ucli.Flag{
			storeFlag(),
			&ucli.StringFlag{Name: "portal", Usage: "the license portal's `URL` (https://...)", Required: true},
		}, requestFlags(), []ucli.Flag{
			caFlag(), proxyFlag(), timeoutFlag(), passphraseFlag(),
		}),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			link, err := linkFlags(c)
			if err != nil {
				return err
			}
			info := requestInfo(c)
			if err := info.Validate(); err != nil {
				return fmt.Errorf("activate: %w", err)
			}
			return e.withStore(c, func(s *store.Store) error {
				client, err := e.portalClient(c, link)
				if err != nil {
					return fmt.Errorf("activate: %w", err)
				}
				pass, err := e.passphrase(c, filepath.Join(s.Dir(), store.KeyFile), false)
				if err != nil {
					return err
				}
				req, data, err := s.NewRequest(info, pass)
				if err != nil {
					return fmt.Errorf("activate: %w", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
				defer cancel()
				lic, err := client.Post(ctx, portalclient.ActivationsPath, data)
				if err != nil {
					return portalError("activate", err)
				}
				res, err := s.InstallOnline(lic, req, link)
				if err != nil {
					return fmt.Errorf("activate: the license from %s: %w", client.URL(), err)
				}
				l := res.License
				var codes []string
				for _, p := range l.Products {
					codes = append(codes, p.Code)
				}
				fmt.Fprintf(e.stdout, "activated online at %s: license %d of activation %s, products %s\n", client.URL(), l.Sequence, l.Activation, strings.Join(codes, ", "))
				if res.Replaced != 0 {
					fmt.Fprintf(e.stdout, "it supersedes license %d\n", res.Replaced)
				}
				fmt.Fprintf(e.stdout, "copied to %d product(s): %s\n", len(res.Copied), strings.Join(res.Copied, ", "))
				fmt.Fprintf(e.stdout, "keep in touch: run oat refresh --store %s daily (after 14 days without contact the license goes into grace, A5)\n", s.Dir())
				if res.CopyError != nil {
					return fmt.Errorf("activate: the license is installed, but a product copy failed (run oat products sync): %w", res.CopyError)
				}
				return nil
			})
		},
	}
}

func refreshCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "refresh",
		Usage: "keep an online activation in touch: check in with the portal, install a newer license if it sends one",
		Description: "Sends a check-in signed by the installation key to the portal recorded by oat activate, and\n" +
			"records the contact once the desk's signed acknowledgement verifies (A5). A newer license it carries\n" +
			"(a product added, a renewal) is installed as oat install would. Run it daily (see examples/systemd).\n" +
			"An installation activated offline has nothing to refresh and makes no network call.",
		Flags: []ucli.Flag{storeFlag(), caFlag(), proxyFlag(), timeoutFlag(), passphraseFlag()},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return e.withStore(c, func(s *store.Store) error {
				o := s.Online()
				if o == nil {
					return fmt.Errorf("refresh %s: %w", s.Dir(), store.ErrNotOnline)
				}
				link := store.Link{Portal: o.Portal, CAFile: o.CAFile, Proxy: o.Proxy}
				if c.IsSet("ca") {
					link.CAFile = c.String("ca")
				}
				if c.IsSet("proxy") {
					link.Proxy = c.String("proxy")
				}
				client, err := e.portalClient(c, link)
				if err != nil {
					return fmt.Errorf("refresh: %w", err)
				}
				pass, err := e.passphrase(c, filepath.Join(s.Dir(), store.KeyFile), false)
				if err != nil {
					return err
				}
				ci, err := s.NewCheckIn(pass)
				if err != nil {
					return fmt.Errorf("refresh: %w", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
				defer cancel()
				ack, err := client.Post(ctx, portalclient.CheckInsPath, ci.File)
				if err == nil {
					var r *store.Refreshed
					if r, err = s.AcceptAck(ci, ack); err == nil {
						return e.printRefreshed(s, client.URL(), r)
					}
				}
				// The failed attempt is recorded: the A5 warnings start now.
				if ferr := s.ContactFailed(err); ferr != nil {
					return fmt.Errorf("refresh: %w (and recording the failure: %v)", err, ferr)
				}
				st, _ := s.OnlineStatus()
				return fmt.Errorf("refresh: %w; last contact %s, %s", err, st.Since.UTC().Format("2006-01-02"), st.State)
			})
		},
	}
}

func (e *env) printRefreshed(s *store.Store, url string, r *store.Refreshed) error {
	fmt.Fprintf(e.stdout, "checked in with %s: activation %s is active at the desk (license %d)\n", url, r.Ack.Activation, r.Ack.Sequence)
	if res := r.Installed; res != nil {
		var codes []string
		for _, p := range res.License.Products {
			codes = append(codes, p.Code)
		}
		fmt.Fprintf(e.stdout, "installed the newer license %d (supersedes license %d), products %s\n", res.License.Sequence, res.Replaced, strings.Join(codes, ", "))
		fmt.Fprintf(e.stdout, "copied to %d product(s): %s\n", len(res.Copied), strings.Join(res.Copied, ", "))
		if res.CopyError != nil {
			return fmt.Errorf("refresh: the license is installed, but a product copy failed (run oat products sync): %w", res.CopyError)
		}
	}
	st, _ := s.OnlineStatus()
	fmt.Fprintf(e.stdout, "next contact due by %s; grace would start on %s (A5)\n",
		st.Since.Add(48*time.Hour).UTC().Format("2006-01-02"), st.Expires.UTC().Format("2006-01-02"))
	return nil
}

// deactivateOnline releases an online activation: the receipt goes to the
// portal, and the license is removed only once the desk confirmed.
func (e *env) deactivateOnline(c *ucli.Context, s *store.Store) error {
	o := s.Online()
	if o == nil {
		if s.Installed() == nil {
			return fmt.Errorf("deactivate %s: %w", s.Dir(), store.ErrNoLicense)
		}
		return fmt.Errorf("deactivate %s: this installation was activated offline: write a receipt with oat deactivate --out FILE and carry it to the license desk (A20)", s.Dir())
	}
	link := store.Link{Portal: o.Portal, CAFile: o.CAFile, Proxy: o.Proxy}
	if p := c.String("portal"); p != "" {
		l, err := linkFlags(c)
		if err != nil {
			return err
		}
		link.Portal = l.Portal
		if c.IsSet("ca") {
			link.CAFile = l.CAFile
		}
		if c.IsSet("proxy") {
			link.Proxy = l.Proxy
		}
	}
	client, err := e.portalClient(c, link)
	if err != nil {
		return fmt.Errorf("deactivate: %w", err)
	}
	pass, err := e.passphrase(c, filepath.Join(s.Dir(), store.KeyFile), false)
	if err != nil {
		return err
	}
	n := len(s.Products())
	r, receipt, err := s.OnlineReceipt(c.String("reason"), pass)
	if err != nil {
		if errors.Is(err, keys.ErrWrongPassphrase) {
			return fmt.Errorf("deactivate: %w", err)
		}
		return fmt.Errorf("deactivate %s: %w", s.Dir(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
	defer cancel()
	ack, err := client.Post(ctx, portalclient.ReleasesPath, receipt)
	if err != nil {
		return fmt.Errorf("deactivate: %w; the license is kept: run oat deactivate --portal again", err)
	}
	if err := s.FinishOnlineRelease(r, ack); err != nil {
		return fmt.Errorf("deactivate: %w; the license is kept", err)
	}
	fmt.Fprintf(e.stdout, "released online at %s: activation %s, license %d; the desk confirmed the seats are free\n", client.URL(), r.Activation, r.Sequence)
	fmt.Fprintf(e.stdout, "removed the license from %s and from %d product(s)\n", s.Dir(), n)
	return nil
}
