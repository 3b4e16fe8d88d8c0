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

	// SessionKey signs staff session cookies and CSRF tokens; at least 32
	// bytes. Portals sharing a ledger behind a load balancer share the key
	// (the CLI derives it from the vendor key) so that sessions carry over.
	SessionKey []byte
	// StaffToken, if set, is an admin token that logs staff in (and is
	// accepted as "Authorization: Bearer" on the staff API).
	StaffToken string
	// StaffPasswordHash, if set, is an argon2id hash (see HashPassword) of
	// the staff password. With neither set the staff area is closed.
	StaffPasswordHash string

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
	if cfg.StaffPasswordHash != "" {
		if _, err := parsePasswordHash(cfg.StaffPasswordHash); err != nil {
			return nil, fmt.Errorf("portal: staff password hash: %w", err)
		}
	}
	if cfg.StaffToken != "" && len(cfg.StaffToken) < 16 {
		return nil, errors.New("portal: the staff token must be at least 16 characters")
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
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		desk:   cfg.Desk,
		online: cfg.Online,
		secure: strings.HasPrefix(cfg.BaseURL, "https://"),
	}
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
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	limited := func(h http.HandlerFunc) http.Handler { return s.limiter.wrap(h, s.writeAPIError) }
	formLimited := func(h http.HandlerFunc) http.Handler { return s.limiter.wrap(h, s.writePageLimit) }

	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", s.static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })

	mux.Handle("POST /v1/activations", limited(s.postActivation))
	mux.Handle("POST /v1/releases", limited(s.postRelease))
	mux.Handle("POST /v1/preview", limited(s.postPreview))
	mux.Handle("GET /v1/orders/{order}", limited(s.getOrder))
	mux.Handle("POST /v1/online/activations", limited(s.postOnlineActivation))
	mux.Handle("POST /v1/online/checkins", limited(s.postCheckIn))
	mux.Handle("POST /v1/online/releases", limited(s.postOnlineRelease))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeAPIError(w, r, http.StatusNotFound, "not_found", "no such API endpoint (see doc/portal.md)")
	})

	mux.HandleFunc("GET /approve", s.approvePage)
	mux.Handle("POST /approve", formLimited(s.approveDecide))
	mux.Handle("POST /approve/renew", formLimited(s.approveRenew))

	mux.HandleFunc("GET /staff/login", s.loginPage)
	mux.Handle("POST /staff/login", formLimited(s.loginPost))
	mux.HandleFunc("POST /staff/logout", s.logout)
	mux.HandleFunc("GET /staff", s.staff(s.staffHome))
	mux.HandleFunc("GET /staff/orders/{order}", s.staff(s.staffOrder))
	mux.HandleFunc("GET /staff/audit", s.staff(s.staffAudit))
	mux.HandleFunc("POST /staff/approvals/{id}", s.staff(s.staffDecide))
	mux.HandleFunc("POST /staff/orders/{order}/pools", s.staff(s.staffSetPool))
	mux.HandleFunc("POST /staff/activations/{id}/release", s.staff(s.staffRelease))

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
			slog.String("client", clientIP(r)),
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

// clientIP is the address rate limits and logs use: the TCP peer. The
// portal does not trust X-Forwarded-For; behind a proxy, limit there.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
