package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Staff is the desk's staff directory: each member signs in with their
// own password, and their sessions are kept by the desk (in the ledger),
// so that signing out, a new password or removing the member ends them
// on every portal at once. Errors for a missing member or session wrap
// ErrNotFound.
type Staff interface {
	// PasswordHash returns the member's argon2id hash (see HashPassword).
	PasswordHash(ctx context.Context, name string) (string, error)
	// OpenSession records a session of the member under id, the SHA-256
	// of the token in the browser's cookie, until expires.
	OpenSession(ctx context.Context, name string, id []byte, expires time.Time) error
	// Session returns the member a live session belongs to.
	Session(ctx context.Context, id []byte) (string, error)
	// CloseSession ends a session; ending one that is gone is no error.
	CloseSession(ctx context.Context, id []byte) error
}

// MinPasswordLength is the shortest staff password oat accepts without
// being told to (oat desk staff add --weak), in characters.
const MinPasswordLength = 12

// maxPasswordBytes bounds what is hashed at a sign-in.
const maxPasswordBytes = 1024

// PasswordParams are the argon2id costs of a staff password hash.
type PasswordParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams are RFC 9106's second recommended option.
var DefaultPasswordParams = PasswordParams{Time: 3, Memory: 64 << 10, Threads: 4}

// HashPassword returns the PHC-format argon2id hash of a staff password,
// "$argon2id$v=19$m=65536,t=3,p=4$SALT$HASH", as the desk stores it.
func HashPassword(password []byte, p PasswordParams) (string, error) {
	if len(password) == 0 {
		return "", errors.New("the password is empty")
	}
	if len(password) > maxPasswordBytes {
		return "", fmt.Errorf("the password is longer than %d bytes", maxPasswordBytes)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

type passwordHash struct {
	p          PasswordParams
	salt, hash []byte
}

func parsePasswordHash(s string) (*passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New(`not an argon2id hash ("$argon2id$v=19$m=...,t=...,p=...$salt$hash")`)
	}
	var h passwordHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.p.Memory, &h.p.Time, &h.p.Threads); err != nil {
		return nil, fmt.Errorf("bad parameters %q", parts[3])
	}
	// Bounds keep a damaged ledger row from making every sign-in cost
	// minutes or gigabytes.
	if h.p.Time < 1 || h.p.Time > 64 || h.p.Memory < 8 || h.p.Memory > 1<<20 || h.p.Threads < 1 {
		return nil, fmt.Errorf("parameters %q out of range", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("bad salt")
	}
	if h.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.hash) < 16 {
		return nil, errors.New("bad hash")
	}
	return &h, nil
}

func (h *passwordHash) matches(password []byte) bool {
	sum := argon2.IDKey(password, h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.hash)))
	return subtle.ConstantTimeCompare(sum, h.hash) == 1
}

// verifyPassword is the argon2id check itself: the expensive part.
func verifyPassword(hash string, password []byte) bool {
	h, err := parsePasswordHash(hash)
	return err == nil && h.matches(password)
}

// decoyHash is checked when the name is not a staff member, so that a
// wrong name costs what a wrong password does and timing does not tell
// which names exist. No password matches its all-zero hash.
const decoyHash = "$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

var (
	// errBusy: every password-hashing slot is taken.
	errBusy = errors.New("the portal is busy checking other sign-ins; retry in a moment")
	// errLoginRate: the portal-wide sign-in rate is spent.
	errLoginRate = errors.New("too many sign-in attempts on this portal; retry later")
)

// checkPassword reports whether password is name's. Each check is one
// argon2id computation, which costs 64 MiB and most of a core: at most
// cfg.MaxConcurrentHashes run at once and at most cfg.LoginRatePerMinute
// start per minute, whoever asks and from however many addresses, so an
// attack costs bounded memory and CPU (it can only slow sign-ins down).
// A check over either bound is refused at once rather than queued.
func (s *Server) checkPassword(ctx context.Context, name string, password []byte) (bool, error) {
	if name == "" || len(name) > maxStaffNameSize || len(password) == 0 || len(password) > maxPasswordBytes {
		return false, nil
	}
	if ok, _ := s.loginLimiter.allow("*"); !ok {
		return false, errLoginRate
	}
	hash, err := s.staff.PasswordHash(ctx, name)
	known := err == nil
	if errors.Is(err, ErrNotFound) {
		hash = decoyHash
	} else if err != nil {
		return false, err
	}
	select {
	case s.hashSlots <- struct{}{}:
	default:
		return false, errBusy
	}
	defer func() { <-s.hashSlots }()
	return s.verify(hash, password) && known, nil
}

const (
	sessionCookie    = "oat_staff"
	loginCSRFCookie  = "oat_login"
	sessionLifetime  = 12 * time.Hour
	maxStaffNameSize = 64
)

// mac is HMAC-SHA-256 under the session key, for one purpose.
func (s *Server) mac(purpose, msg string) []byte {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// sessionID is what the desk stores of a session token.
func sessionID(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// openSession starts a session for name and returns the cookie's token:
// 256 random bits, meaningless without the desk's record of it.
func (s *Server) openSession(ctx context.Context, name string) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	if err := s.staff.OpenSession(ctx, name, sessionID(tok), s.now().Add(sessionLifetime)); err != nil {
		return "", err
	}
	return tok, nil
}

// errNoSession: no cookie, or one the desk does not know (signed out,
// expired, password changed, member removed).
var errNoSession = errors.New("not signed in")

// session returns who the request's session cookie belongs to.
func (s *Server) session(r *http.Request) (string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return "", errNoSession
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	name, err := s.staff.Session(ctx, sessionID(c.Value))
	if errors.Is(err, ErrNotFound) {
		return "", errNoSession
	}
	return name, err
}

// staffIdentity returns who is calling the staff API: a session cookie,
// or a member's name and password as HTTP Basic credentials (checked like
// a sign-in, under the same bounds).
func (s *Server) staffIdentity(r *http.Request) (string, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		ctx, cancel := s.ctx(r)
		defer cancel()
		ok, err := s.checkPassword(ctx, user, []byte(pass))
		if err != nil {
			return "", err
		}
		if !ok {
			s.log.Warn("staff API sign-in failed", "client", s.clientIP(r))
			return "", errNoSession
		}
		return user, nil
	}
	return s.session(r)
}

// csrfToken is the token every staff form carries: bound to the session,
// so it is useless to anyone who cannot read the session cookie.
func (s *Server) csrfToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", c.Value))
}

func (s *Server) checkCSRF(r *http.Request) bool {
	want := s.csrfToken(r)
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// cookie returns a cookie with the portal's defaults: HttpOnly,
// SameSite=Strict, Secure when served over TLS.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure || r.TLS != nil,
	}
}
