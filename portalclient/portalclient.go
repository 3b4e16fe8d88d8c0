// Package portalclient is an online server's side of the license portal's
// online API: it posts a signed file and returns the signed file the portal
// answers with, over HTTPS.
//
// The network is done carefully because a server runs it unattended:
// HTTPS verified against the system roots, plus a private CA if given;
// plain http only to a loopback address (a portal on the same machine, or
// a test); the proxy from --proxy or else HTTPS_PROXY/NO_PROXY; every step
// of a call bounded in time; the answer's size capped before it is read.
// A refusal by the portal comes back as *RefusedError with the portal's own
// reason; anything else that goes wrong on the way wraps ErrUnreachable.
package portalclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/signing"
)

// The portal's online endpoints.
const (
	ActivationsPath = "/v1/online/activations"
	CheckInsPath    = "/v1/online/checkins"
	ReleasesPath    = "/v1/online/releases"
)

// DefaultTimeout bounds one call, from dialing to the last byte.
const DefaultTimeout = 60 * time.Second

// maxAnswer caps what is read of an answer: one oat file, or a JSON error.
const maxAnswer = signing.MaxFileSize

// Errors callers branch on.
var (
	// ErrUnreachable means the portal could not be reached or did not
	// answer properly: nothing is known about what it did.
	ErrUnreachable = errors.New("cannot reach the license portal")
	// ErrInsecure means a portal URL that would send files in the clear.
	ErrInsecure = errors.New("the portal URL must be https:// (plain http:// only to a loopback address)")
)

// RefusedError is the portal's refusal, with its own reason.
type RefusedError struct {
	Status  int    // HTTP status
	Code    string // the API's error code, e.g. "no_seats"
	Message string // the portal's reason, for the admin
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the license portal refused: %s", e.Message)
}

// Config says how to reach a portal.
type Config struct {
	// URL is the portal's base address, e.g. https://licenses.example.com.
	URL string
	// CAFile, if set, is a PEM file of CA certificates trusted in
	// addition to the system roots (a private CA).
	CAFile string
	// Proxy, if set, is the proxy URL for every call; otherwise the
	// proxy comes from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read through
	// Getenv.
	Proxy string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Timeout bounds one call; 0 means DefaultTimeout.
	Timeout time.Duration
	// DialContext, if set, replaces the network dialer (tests).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client talks to one portal.
type Client struct {
	base *url.URL
	http *http.Client
}

// CheckURL returns the portal URL as oat records it, or an error saying
// why it is not acceptable.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("portal URL %q: not an http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("portal URL %q: credentials, query and fragment are not allowed", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("portal URL %q: %w", raw, ErrInsecure)
		}
	default:
		return nil, fmt.Errorf("portal URL %q: %w", raw, ErrInsecure)
	}
	return u, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New checks cfg and returns a client. It reads the CA file but makes no
// network call.
func New(cfg Config) (*Client, error) {
	base, err := CheckURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pem, err := atomicfile.ReadCapped(cfg.CAFile, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", cfg.CAFile, err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	proxy, err := proxyFunc(cfg.Proxy, getenv)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	dial := cfg.DialContext
	if dial == nil {
		dial = dialer.DialContext
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          1,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// The API never redirects; following one could send the file to a
		// host the admin did not name, or downgrade to plain http.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{base: base, http: c}, nil
}

// proxyFunc is --proxy if given, else the environment's proxy.
func proxyFunc(explicit string, getenv func(string) string) (func(*http.Request) (*url.URL, error), error) {
	if explicit != "" {
		u, err := url.Parse(explicit)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return nil, fmt.Errorf("proxy URL %q: want http://HOST:PORT, https://HOST:PORT or socks5://HOST:PORT", explicit)
		}
		return http.ProxyURL(u), nil
	}
	return func(r *http.Request) (*url.URL, error) { return envProxy(r.URL, getenv) }, nil
}

// envProxy is the proxy the environment names for u, as curl and Go's
// http.ProxyFromEnvironment read it: HTTPS_PROXY for https, HTTP_PROXY for
// http (upper or lower case), none for loopback or a NO_PROXY match.
func envProxy(u *url.URL, getenv func(string) string) (*url.URL, error) {
	get := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return getenv(strings.ToLower(name))
	}
	host := u.Hostname()
	if loopback(host) || noProxy(host, get("NO_PROXY")) {
		return nil, nil
	}
	raw := get("HTTP_PROXY")
	if u.Scheme == "https" {
		raw = get("HTTPS_PROXY")
	}
	if raw == "" {
		return nil, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	p, err := url.Parse(raw)
	if err != nil || p.Host == "" {
		return nil, fmt.Errorf("proxy from the environment %q is not a URL", raw)
	}
	return p, nil
}

// noProxy reports whether host matches the NO_PROXY list: "*", a host
// name or a domain suffix (with or without a leading dot), or an IP.
func noProxy(host, list string) bool {
	host = strings.ToLower(host)
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h
		}
		switch {
		case e == "":
		case e == "*", e == host:
			return true
		case strings.HasSuffix(host, "."+strings.TrimPrefix(e, ".")):
			return true
		}
	}
	return false
}

// URL returns the portal's base URL.
func (c *Client) URL() string { return c.base.String() }

// Post sends one signed file to the endpoint path and returns the signed
// file the portal answers with. The caller verifies it.
func (c *Client) Post(ctx context.Context, path string, file []byte) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/x-pem-file, application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, unwrapURL(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%w at %s: the answer was cut off: %w", ErrUnreachable, c.base, err)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("%w at %s: the answer is larger than %d bytes", ErrUnreachable, c.base, maxAnswer)
	}
	if res.StatusCode == http.StatusOK {
		return body, nil
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &e) == nil && e.Error != "" {
		if res.StatusCode >= 500 {
			return nil, fmt.Errorf("%w at %s: %s (HTTP %d)", ErrUnreachable, c.base, oneLine(e.Message), res.StatusCode)
		}
		return nil, &RefusedError{Status: res.StatusCode, Code: e.Error, Message: oneLine(e.Message)}
	}
	// Not the portal's API answering: a proxy's or load balancer's page.
	return nil, fmt.Errorf("%w at %s: HTTP %s, not an answer of the oat portal API", ErrUnreachable, c.base, res.Status)
}

// unwrapURL drops *url.Error's repetition of the method and URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// oneLine keeps a message from the network to one bounded line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
