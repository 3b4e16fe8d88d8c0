package portal

import (
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
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id costs of a staff password hash.
type PasswordParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams are RFC 9106's second recommended option.
var DefaultPasswordParams = PasswordParams{Time: 3, Memory: 64 << 10, Threads: 4}

// HashPassword returns the PHC-format argon2id hash of a staff password,
// "$argon2id$v=19$m=65536,t=3,p=4$SALT$HASH", for Config.StaffPasswordHash.
func HashPassword(password []byte, p PasswordParams) (string, error) {
	if len(password) == 0 {
		return "", errors.New("the password is empty")
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
	// Bounds keep a hostile config from making every login cost minutes.
	if h.p.Time < 1 || h.p.Time > 64 || h.p.Memory < 8 || h.p.Memory > 4<<20 || h.p.Threads < 1 {
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

// checkSecret reports whether secret is the staff token or password.
func (s *Server) checkSecret(secret string) bool {
	if secret == "" {
		return false
	}
	if s.cfg.StaffToken != "" {
		a := sha256.Sum256([]byte(secret))
		b := sha256.Sum256([]byte(s.cfg.StaffToken))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return true
		}
	}
	if s.cfg.StaffPasswordHash != "" {
		h, err := parsePasswordHash(s.cfg.StaffPasswordHash)
		if err == nil && h.matches([]byte(secret)) {
			return true
		}
	}
	return false
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

// newSession returns a signed session cookie value: the staff name (for
// the audit log), the expiry and a random ID, then the MAC over them.
func (s *Server) newSession(name string) string {
	id := make([]byte, 16)
	rand.Read(id)
	b64 := base64.RawURLEncoding
	payload := b64.EncodeToString([]byte(name)) + "." + strconv.FormatInt(s.now().Add(sessionLifetime).Unix(), 10) + "." + b64.EncodeToString(id)
	return payload + "." + b64.EncodeToString(s.mac("session", payload))
}

// session verifies a session cookie value and returns the staff name.
func (s *Server) session(v string) (string, bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return "", false
	}
	payload := v[:i]
	sig, err := base64.RawURLEncoding.DecodeString(v[i+1:])
	if err != nil || !hmac.Equal(sig, s.mac("session", payload)) {
		return "", false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return "", false
	}
	name, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", false
	}
	return string(name), true
}

// staffIdentity returns who is calling: a session cookie, or the admin
// token as a bearer token for the API.
func (s *Server) staffIdentity(r *http.Request) (string, bool) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if name, ok := s.session(c.Value); ok {
			return name, true
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.cfg.StaffToken != "" {
		a := sha256.Sum256([]byte(tok))
		b := sha256.Sum256([]byte(s.cfg.StaffToken))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return "token", true
		}
	}
	return "", false
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

// cleanStaffName keeps the name typed at login fit for the audit log.
func cleanStaffName(name string) string {
	name = strings.TrimSpace(name)
	var b strings.Builder
	for _, c := range name {
		if c < ' ' || c == 0x7f || c == utf8.RuneError {
			continue
		}
		if b.Len()+utf8.RuneLen(c) > maxStaffNameSize {
			break
		}
		b.WriteRune(c)
	}
	if b.Len() == 0 {
		return "staff"
	}
	return b.String()
}
