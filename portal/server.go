package portal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
)

// Config is what a portal needs to run.
type Config struct {
	Desk Desk
	// Online, if set, serves online activation: /v1/online/activations,
	// /v1/online/checkins and /v1/online/releases. Without it those
	// answer 404 and the portal serves offline activation only.
	Online OnlineDesk

	// SessionKey keys the CSRF tokens of staff forms; at least 32 bytes.
	// Portals sharing a ledger behind a load balancer share the key (the
	// CLI derives it from the vendor key) so that forms carry over.
	SessionKey []byte
	// Staff, if set, opens the staff area (and the staff API) to the
	// members it lists; nil closes it: every staff route is 404.
	Staff Staff
	// MaxConcurrentHashes bounds the argon2id computations (64 MiB each)
	// running at once for sign-ins; 0 means 2. LoginRatePerMinute and
	// LoginBurst bound how many may start, portal-wide; 0 means 20 a
	// minute with a burst of 5.
	MaxConcurrentHashes int
	LoginRatePerMinute  float64
	LoginBurst          int

	// BaseURL is the public address of the portal, e.g.
	// "https://licenses.example.com"; an https URL makes cookies Secure.
	BaseURL string

	// RatePerMinute and Burst bound how many API calls and form posts one
	// client address may make; 0 means 60 per minute with a burst of 20.
	RatePerMinute float64
	Burst         int
	// InstallationRatePerMinute and InstallationBurst bound the online
	// calls of one installation key, whatever address they come from; 0
	// means 10 per minute with a burst of 10.
	InstallationRatePerMinute float64
	InstallationBurst         int

	// TrustedProxies are the reverse proxies whose X-Forwarded-For the
	// portal believes: a request from one of them counts against the
	// client it names, so limits and logs see real clients. From any
	// other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// OrderGuesses bounds wrong order ID / fulfillment number pairs: after
	// that many within OrderLockout, the order (and, separately, the
	// client address) is refused for OrderLockout. 0 means 10 per order,
	// 5 per address, locked for 15 minutes.
	OrderGuessesPerOrder   int
	OrderGuessesPerAddress int
	OrderLockout           time.Duration

	Logger *slog.Logger     // access and error log; nil discards
	Now    func() time.Time // nil means time.Now
}

// Server is the portal's HTTP handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	desk    Desk
	online  OnlineDesk
	msgs    catalog
	pages   map[string]*template.Template
	static  http.Handler
	limiter *limiter
	// installLimiter limits the online calls per installation key.
	installLimiter *limiter
	handler        http.Handler
	secure         bool

	staff        Staff
	hashSlots    chan struct{}                     // one token per argon2id computation running
	verify       func(hash string, pw []byte) bool // verifyPassword; tests count calls
	loginLimiter *limiter                          // portal-wide, one bucket
	guesses      *guessGuard
}

// maxFormBytes caps staff and approval form posts.
const maxFormBytes = 16 << 10

// New checks cfg and returns a portal.
func New(cfg Config) (*Server, error) {
	if cfg.Desk == nil {
		return nil, errors.New("portal: no desk")
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("portal: the session key must be at least 32 bytes")
	}
	if cfg.BaseURL != "" && !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("portal: base URL %q must start with http:// or https://", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.RatePerMinute <= 0 {
		cfg.RatePerMinute = 60
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.InstallationRatePerMinute <= 0 {
		cfg.InstallationRatePerMinute = 10
	}
	if cfg.InstallationBurst <= 0 {
		cfg.InstallationBurst = 10
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = 2
	}
	if cfg.LoginRatePerMinute <= 0 {
		cfg.LoginRatePerMinute = 20
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 5
	}
	if cfg.OrderGuessesPerOrder <= 0 {
		cfg.OrderGuessesPerOrder = 10
	}
	if cfg.OrderGuessesPerAddress <= 0 {
		cfg.OrderGuessesPerAddress = 5
	}
	if cfg.OrderLockout <= 0 {
		cfg.OrderLockout = 15 * time.Minute
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		desk:   cfg.Desk,
		online: cfg.Online,
		secure: strings.HasPrefix(cfg.BaseURL, "https://"),
		staff:  cfg.Staff,
		verify: verifyPassword,
	}
	s.hashSlots = make(chan struct{}, cfg.MaxConcurrentHashes)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.msgs, err = loadCatalog(); err != nil {
		return nil, err
	}
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", staticHandler(http.FileServerFS(static)))
	s.limiter = newLimiter(cfg.RatePerMinute/60, cfg.Burst, s.now)
	s.installLimiter = newLimiter(cfg.InstallationRatePerMinute/60, cfg.InstallationBurst, s.now)
	s.loginLimiter = newLimiter(cfg.LoginRatePerMinute/60, cfg.LoginBurst, s.now)
	s.guesses = newGuessGuard(cfg.OrderGuessesPerOrder, cfg.OrderGuessesPerAddress, cfg.OrderLockout, s.now)
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	limited := func(h http.HandlerFunc) http.Handler { return s.limiter.wrap(h, s.clientIP, s.writeAPIError) }
	formLimited := func(h http.HandlerFunc) http.Handler { return s.limiter.wrap(h, s.clientIP, s.writePageLimit) }

	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", s.static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })

	mux.Handle("POST /v1/activations", limited(s.postActivation))
	mux.Handle("POST /v1/releases", limited(s.postRelease))
	mux.Handle("POST /v1/preview", limited(s.postPreview))
	if s.staff != nil {
		mux.Handle("GET /v1/orders/{order}", limited(s.getOrder))
	}
	mux.Handle("POST /v1/online/activations", limited(s.postOnlineActivation))
	mux.Handle("POST /v1/online/checkins", limited(s.postCheckIn))
	mux.Handle("POST /v1/online/releases", limited(s.postOnlineRelease))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeAPIError(w, r, http.StatusNotFound, "not_found", "no such API endpoint (see doc/portal.md)")
	})

	mux.HandleFunc("GET /approve", s.approvePage)
	mux.HandleFunc("GET /approve/done", s.approveDone)
	mux.Handle("POST /approve", formLimited(s.approveDecide))
	mux.Handle("POST /approve/renew", formLimited(s.approveRenew))
	mux.HandleFunc("GET /register", s.registerPage)
	mux.Handle("POST /register", formLimited(s.registerConfirm))
	mux.Handle("POST /register/renew", formLimited(s.registerRenew))

	// With staff access off, no staff route exists: whatever cookie or
	// credentials come, everything under /staff is 404.
	mux.HandleFunc("/staff", s.staffClosed)
	mux.HandleFunc("/staff/", s.staffClosed)
	if s.staff != nil {
		mux.HandleFunc("GET /staff/login", s.loginPage)
		mux.Handle("POST /staff/login", formLimited(s.loginPost))
		mux.HandleFunc("POST /staff/logout", s.logout)
		mux.HandleFunc("GET /staff", s.staffOnly(s.staffHome))
		mux.HandleFunc("GET /staff/orders/{order}", s.staffOnly(s.staffOrder))
		mux.HandleFunc("GET /staff/audit", s.staffOnly(s.staffAudit))
		mux.HandleFunc("POST /staff/approvals/{id}", s.staffOnly(s.staffDecide))
		mux.HandleFunc("POST /staff/orders/{order}/pools", s.staffOnly(s.staffSetPool))
		mux.HandleFunc("POST /staff/activations/{id}/release", s.staffOnly(s.staffRelease))
	}

	// Browsers may only post forms and uploads from this origin; tools
	// (curl, scripts) send no Origin or Sec-Fetch-Site and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeAPIError(w, r, http.StatusForbidden, "cross_origin", "cross-origin request refused")
	}))
	return s.recoverer(s.accessLog(securityHeaders(s.secure, cop.Handler(mux))))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves the portal on ln until ctx is done, then shuts down
// gracefully, letting requests in flight finish for up to grace. With
// tlsConfig set it serves HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// securityHeaders sets the headers every answer carries. The CSP allows
// only the portal's own scripts and styles: no inline code, no frames.
func securityHeaders(secure bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// Approval links carry a token in the query: never leak it.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if secure || r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of an answer for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   string // API error code, if any
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request. It logs the path but
// never the query (approval tokens), bodies, cookies or credentials.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("client", s.clientIP(r)),
		}
		if sw.code != "" {
			attrs = append(attrs, slog.String("error", sw.code))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recoverer turns a panic into a plain 500: the stack goes to the log,
// never to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.writeAPIError(w, r, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// clientIP is the address rate limits, lockouts and logs use: the TCP
// peer, unless the peer is a trusted proxy. Then it is the right-most
// address in X-Forwarded-For that is not a trusted proxy itself: each
// proxy appends the peer it saw, so addresses left of the first
// untrusted one are whatever the client chose to send.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage from a proxy we trust: count it against the proxy
			// rather than against an address someone made up.
			return peer.String()
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
