package portal

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed web
var webFS embed.FS

// languages the portal speaks, the first being the fallback.
var languages = []string{"en", "ja"}

// catalog holds every message in every language: lang → key → text.
type catalog map[string]map[string]string

func loadCatalog() (catalog, error) {
	data, err := webFS.ReadFile("web/messages.json")
	if err != nil {
		return nil, err
	}
	var c catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("portal: web/messages.json: %w", err)
	}
	// Every language must have every key, so no page ever shows a key.
	for _, l := range languages {
		if c[l] == nil {
			return nil, fmt.Errorf("portal: web/messages.json: no %q messages", l)
		}
	}
	for _, l := range languages {
		for k := range c[languages[0]] {
			if _, ok := c[l][k]; !ok {
				return nil, fmt.Errorf("portal: web/messages.json: %q has no %q", l, k)
			}
		}
		for k := range c[l] {
			if _, ok := c[languages[0]][k]; !ok {
				return nil, fmt.Errorf("portal: web/messages.json: %q has %q, which %q lacks", l, k, languages[0])
			}
		}
	}
	return c, nil
}

// Lang is the language a page is rendered in.
type Lang struct {
	Code string
	msgs map[string]string
}

// T returns the message for key, formatted with args like fmt.Sprintf.
func (l *Lang) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Messages returns the messages the page's script needs (keys "js.*").
func (l *Lang) Messages() map[string]string {
	out := make(map[string]string)
	for k, v := range l.msgs {
		if strings.HasPrefix(k, "js.") {
			out[k] = v
		}
	}
	return out
}

// Date formats a time for the page's language.
func (l *Lang) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if l.Code == "ja" {
		return t.Local().Format("2006年1月2日 15:04")
	}
	return t.Local().Format("2 Jan 2006 15:04")
}

// lang picks the language: an explicit ?lang= (remembered in a cookie),
// else the cookie, else the browser's Accept-Language.
func (s *Server) lang(w http.ResponseWriter, r *http.Request) *Lang {
	pick := func(code string) *Lang { return &Lang{Code: code, msgs: s.msgs[code]} }
	if q := r.URL.Query().Get("lang"); s.msgs[q] != nil {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil})
		return pick(q)
	}
	if c, err := r.Cookie("lang"); err == nil && s.msgs[c.Value] != nil {
		return pick(c.Value)
	}
	return pick(acceptLanguage(r.Header.Get("Accept-Language"), s.msgs))
}

// acceptLanguage returns the best language of header that the catalog has.
func acceptLanguage(header string, c catalog) string {
	type choice struct {
		code string
		q    float64
		pos  int
	}
	var cs []choice
	for i, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if c[base] != nil && q > 0 {
			cs = append(cs, choice{base, q, i})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	if len(cs) > 0 {
		return cs[0].code
	}
	return languages[0]
}

// page is what every template gets.
type page struct {
	L       *Lang
	Title   string
	Switch  []langLink // the language switch
	CSRF    string
	Staff   string // the signed-in staff name, if any
	Flash   string
	Error   string
	Data    any
	BaseURL string
}

type langLink struct {
	Code, Label, URL string
	Current          bool
}

var langLabels = map[string]string{"en": "English", "ja": "日本語"}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request) *page {
	l := s.lang(w, r)
	p := &page{L: l, BaseURL: s.cfg.BaseURL}
	for _, code := range languages {
		u := url.URL{Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("lang", code)
		u.RawQuery = q.Encode()
		p.Switch = append(p.Switch, langLink{Code: code, Label: langLabels[code], URL: u.String(), Current: code == l.Code})
	}
	if s.staff != nil {
		if name, err := s.session(r); err == nil {
			p.Staff = name
			p.CSRF = s.csrfToken(r)
		}
	}
	return p
}

func loadPages() (map[string]*template.Template, error) {
	names := []string{"index.html", "login.html", "staff.html", "order.html", "audit.html", "approve.html", "register.html", "message.html"}
	pages := make(map[string]*template.Template)
	for _, n := range names {
		t, err := template.New(n).ParseFS(webFS, "web/layout.html", "web/"+n)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", n, err)
		}
		pages[n] = t
	}
	return pages, nil
}

// render writes a page; a template error is logged, never shown.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.L.Code)
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// writePageLimit answers a form post over the rate limit with a page.
func (s *Server) writePageLimit(w http.ResponseWriter, r *http.Request, status int, _, _ string) {
	p := s.newPage(w, r)
	p.Title = p.L.T("limit.title")
	p.Error = p.L.T("limit.text")
	s.render(w, r, status, "message.html", p)
}

// index is the operator's page.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r)
	p.Title = p.L.T("index.title")
	s.render(w, r, http.StatusOK, "index.html", p)
}
