package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/portal"
)

func portalCommand(e *env) *ucli.Command {
	return &ucli.Command{
		Name:  "portal",
		Usage: "serve the operator's web page, the activation API and the desk staff's area",
		Description: "Serves until SIGINT or SIGTERM, then finishes the requests in flight.\n" +
			"With --staff, the staff area is open to the members added with `oat desk staff add`, each\n" +
			"signing in with their own password; without it every staff route is 404.\n" +
			"Approval mail queued in the ledger goes out through --smtp. See doc/portal.md,\n" +
			"\"Running in production\".",
		Flags: []ucli.Flag{
			// Required, but checked by the action, which words the error.
			&ucli.StringFlag{Name: "db", Usage: "the ledger: a SQLite file `DSN` or postgres://... (required)"},
			&ucli.StringFlag{Name: "key", Usage: "the vendor private key `VENDOR.key` that signs licenses (required)"},
			&ucli.StringFlag{Name: "listen", Usage: "listen on `ADDR`", Value: "127.0.0.1:8080"},
			&ucli.StringFlag{Name: "base-url", Usage: "the portal's public `URL`, for links in mail (default http://ADDR)"},
			&ucli.BoolFlag{Name: "staff", Usage: "open the staff area and the staff API to the members added with oat desk staff add"},
			&ucli.StringSliceFlag{Name: "trusted-proxy", Usage: "believe X-Forwarded-For from the reverse proxies in `CIDR` (repeatable)"},
			&ucli.Float64Flag{Name: "login-rate", Usage: "`N` staff sign-in attempts the whole portal may check per minute, from all addresses", Value: 20},
			&ucli.IntFlag{Name: "max-password-hashes", Usage: "`N` password checks (64 MiB each) that may run at once", Value: 2},
			&ucli.StringFlag{Name: "smtp", Usage: "send queued mail through the SMTP server at `HOST:PORT`"},
			&ucli.StringFlag{Name: "smtp-from", Usage: "sender `ADDRESS` of the mail", Value: "oat license desk <noreply@localhost>"},
			&ucli.StringFlag{Name: "smtp-user", Usage: "SMTP `USER` (password in $OAT_SMTP_PASSWORD)"},
			&ucli.DurationFlag{Name: "smtp-interval", Usage: "how often to look for queued mail", Value: 10 * time.Second},
			&ucli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with the certificate chain in `FILE`"},
			&ucli.StringFlag{Name: "tls-key", Usage: "the certificate's private key `FILE`"},
			&ucli.Float64Flag{Name: "rate", Usage: "API calls and form posts one client address may make per minute", Value: 60},
			&ucli.IntFlag{Name: "burst", Usage: "how many of those may come at once", Value: 20},
			&ucli.Float64Flag{Name: "installation-rate", Usage: "online calls (activations, check-ins, releases) one installation may make per minute", Value: 10},
			&ucli.IntFlag{Name: "installation-burst", Usage: "how many of those may come at once", Value: 10},
			&ucli.StringFlag{Name: "desk-name", Usage: "the desk's `NAME` in the licenses it issues", Value: desk.DefaultName},
			passphraseFlag(),
		},
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			for _, f := range []string{"db", "key"} {
				if c.String(f) == "" {
					return usagef("portal: --%s is required", f)
				}
			}
			return e.runPortal(c)
		},
	}
}

// portalGCPercent is the portal's GOGC unless the environment sets one.
const portalGCPercent = 400

func (e *env) runPortal(c *ucli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The portal's live heap is small (some 10 MB) and it allocates per
	// request, so with Go's default GOGC=100 the collector ran often:
	// 11 % of the portal's CPU under 32 clients (doc/benchmarks.md).
	// Letting the heap grow to five times the live data costs a few tens
	// of MB and cut the portal's CPU per activation by about a sixth. An
	// operator's own GOGC wins.
	if e.getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(portalGCPercent))
	}

	var proxies []netip.Prefix
	for _, v := range c.StringSlice("trusted-proxy") {
		p, err := parseCIDR(v)
		if err != nil {
			return usagef("portal: --trusted-proxy %q: %v", v, err)
		}
		proxies = append(proxies, p)
	}
	var tlsConfig *tls.Config
	if cert, key := c.String("tls-cert"), c.String("tls-key"); cert != "" || key != "" {
		if cert == "" || key == "" {
			return usagef("portal: --tls-cert and --tls-key go together")
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("portal: TLS certificate %s: %w", cert, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}

	keyPath := c.String("key")
	pass, err := e.passphrase(c, keyPath, false)
	if err != nil {
		return err
	}
	vendor, err := keys.LoadPrivateKey(keyPath, pass)
	if err != nil {
		return err // names the key file already
	}
	// CSRF tokens are keyed from the vendor key so that every portal of
	// one desk accepts the others' forms; the key itself stays here.
	sessionKey, err := hkdf.Key(sha256.New, vendor.Seed(), nil, "oat portal staff sessions v1", 32)
	if err != nil {
		return err
	}

	db, err := ledger.OpenExisting(ctx, c.String("db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		return fmt.Errorf("ledger %s: %w", db, err)
	}
	d := desk.New(db, desk.Options{Name: c.String("desk-name")})
	// A portal with a key the ledger does not list would refuse every
	// request: say so now, not at the first customer.
	if err := d.CheckVendorKey(ctx, vendor.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("portal: %s: %w", keyPath, err)
	}
	if c.Bool("staff") {
		members, err := d.Staff(ctx)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			return fmt.Errorf("portal: --staff, but ledger %s has no staff members: add one with oat desk staff add", db)
		}
	}

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	base := c.String("base-url")
	if base == "" {
		base = scheme + "://" + ln.Addr().String()
	}

	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	backend := portal.NewLedgerDesk(d, vendor, base)
	defer backend.Close()
	cfg := portal.Config{
		Desk: backend, Online: backend, SessionKey: sessionKey, TrustedProxies: proxies,
		MaxConcurrentHashes: c.Int("max-password-hashes"), LoginRatePerMinute: c.Float64("login-rate"),
		BaseURL: base, RatePerMinute: c.Float64("rate"), Burst: c.Int("burst"), Logger: log,
		InstallationRatePerMinute: c.Float64("installation-rate"), InstallationBurst: c.Int("installation-burst"),
	}
	if c.Bool("staff") {
		cfg.Staff = backend
	}
	srv, err := portal.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if !c.Bool("staff") {
		log.Info("no --staff: the staff area is closed")
	}

	mailDone := make(chan struct{})
	if addr := c.String("smtp"); addr != "" {
		s := &portal.Sender{Outbox: backend, Addr: addr, From: c.String("smtp-from"),
			Username: c.String("smtp-user"), Password: e.getenv("OAT_SMTP_PASSWORD"),
			Interval: c.Duration("smtp-interval"), Logger: log}
		go func() {
			defer close(mailDone)
			if err := s.Run(ctx); err != nil {
				log.Error("mail sender stopped", "err", err)
			}
		}()
	} else {
		close(mailDone)
		log.Warn("no --smtp: approval mail stays queued in the ledger until a portal with --smtp sends it")
	}

	fmt.Fprintf(e.stdout, "oat portal: serving %s (listening on %s)\n", base, ln.Addr())
	err = srv.Serve(ctx, ln, tlsConfig, 10*time.Second)
	stop()
	<-mailDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("portal: %w", err)
	}
	fmt.Fprintln(e.stdout, "oat portal: stopped")
	return nil
}

// parseCIDR reads a trusted proxy: a network in CIDR notation, or one
// address.
func parseCIDR(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or a network in CIDR notation (10.0.0.0/8)")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
