package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// staffClosed answers every staff route while staff access is off, and
// any path under /staff that is no staff page.
func (s *Server) staffClosed(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r)
	p.Title = p.L.T("staff.title")
	p.Error = p.L.T("error.notfound")
	if s.staff == nil {
		p.Error = p.L.T("login.closed")
	}
	s.render(w, r, http.StatusNotFound, "message.html", p)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.session(r); err == nil {
		http.Redirect(w, r, "/staff", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the sign-in form with a fresh double-submit CSRF
// token: there is no session yet to bind one to.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, errKey string) {
	p := s.newPage(w, r)
	p.Title = p.L.T("login.title")
	tok := make([]byte, 18)
	rand.Read(tok)
	v := base64.RawURLEncoding.EncodeToString(tok)
	c := s.cookie(r, loginCSRFCookie, v, 3600)
	c.Path = "/staff/login"
	http.SetCookie(w, c)
	p.Data = v
	if errKey != "" {
		p.Error = p.L.T(errKey)
	}
	s.render(w, r, status, "login.html", p)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "error.csrf")
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	ctx, cancel := s.ctx(r)
	defer cancel()
	ok, err := s.checkPassword(ctx, name, []byte(r.PostFormValue("secret")))
	switch {
	case errors.Is(err, errLoginRate), errors.Is(err, errBusy):
		s.log.Warn("staff login refused", "client", s.clientIP(r), "err", err)
		w.Header().Set("Retry-After", "10")
		s.renderLogin(w, r, http.StatusTooManyRequests, "login.busy")
		return
	case err != nil:
		p := s.newPage(w, r)
		s.deskError(w, r, p, err)
		return
	case !ok:
		s.log.Warn("staff login failed", "client", s.clientIP(r))
		s.renderLogin(w, r, http.StatusUnauthorized, "login.failed")
		return
	}
	tok, err := s.openSession(ctx, name)
	if err != nil {
		s.deskError(w, r, s.newPage(w, r), err)
		return
	}
	s.log.Info("staff login", "staff", name, "client", s.clientIP(r))
	gone := s.cookie(r, loginCSRFCookie, "", -1)
	gone.Path = "/staff/login"
	http.SetCookie(w, gone)
	http.SetCookie(w, s.cookie(r, sessionCookie, tok, int(sessionLifetime.Seconds())))
	http.Redirect(w, r, "/staff", http.StatusSeeOther)
}

// logout ends the session in the desk, not only in this browser: the
// cookie is worthless afterwards, wherever a copy of it is.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if _, err := s.session(r); err == nil {
		if !s.checkCSRF(r) {
			s.forbidden(w, r)
			return
		}
		c, _ := r.Cookie(sessionCookie)
		ctx, cancel := s.ctx(r)
		defer cancel()
		if err := s.staff.CloseSession(ctx, sessionID(c.Value)); err != nil {
			s.deskError(w, r, s.newPage(w, r), err)
			return
		}
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// staffHandler is a staff page: it gets the page to fill and who is
// signed in.
type staffHandler func(w http.ResponseWriter, r *http.Request, p *page, staff string)

// staffOnly guards a staff page: a live session is required (else the
// sign-in page), and every post must carry the session's CSRF token.
func (s *Server) staffOnly(h staffHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, err := s.session(r)
		if err != nil && !errors.Is(err, errNoSession) {
			s.deskError(w, r, s.newPage(w, r), err)
			return
		}
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/staff/login", http.StatusSeeOther)
				return
			}
			s.forbidden(w, r)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil || !s.checkCSRF(r) {
				s.forbidden(w, r)
				return
			}
		}
		p := s.newPage(w, r)
		if k := r.URL.Query().Get("done"); k != "" {
			if msg := p.L.T("flash." + k); msg != "flash."+k {
				p.Flash = msg
			}
		}
		h(w, r, p, name)
	}
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r)
	p.Title = p.L.T("error.title")
	p.Error = p.L.T("error.csrf")
	s.render(w, r, http.StatusForbidden, "message.html", p)
}

// deskError shows a desk error on a page, in general terms unless it is
// about the input.
func (s *Server) deskError(w http.ResponseWriter, r *http.Request, p *page, err error) {
	status, _, public := classify(err)
	p.Title = p.L.T("error.title")
	if public {
		p.Error = err.Error()
	} else {
		s.log.Error("desk", "path", r.URL.Path, "err", err)
		p.Error = http.StatusText(status)
	}
	s.render(w, r, status, "message.html", p)
}

func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), deskTimeout)
}

type staffHome struct {
	Approvals []Approval
	Orders    []Order
	Query     string
}

func (s *Server) staffHome(w http.ResponseWriter, r *http.Request, p *page, _ string) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	approvals, err := s.desk.Approvals(ctx)
	if err != nil {
		s.deskError(w, r, p, err)
		return
	}
	orders, err := s.desk.Orders(ctx)
	if err != nil {
		s.deskError(w, r, p, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q != "" {
		lq := strings.ToLower(q)
		var kept []Order
		for _, o := range orders {
			if strings.Contains(strings.ToLower(o.ID+"\x00"+o.Fulfillment+"\x00"+o.Email), lq) {
				kept = append(kept, o)
			}
		}
		orders = kept
	}
	p.Title = p.L.T("staff.title")
	p.Data = staffHome{Approvals: approvals, Orders: orders, Query: q}
	s.render(w, r, http.StatusOK, "staff.html", p)
}

func (s *Server) staffOrder(w http.ResponseWriter, r *http.Request, p *page, _ string) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	o, err := s.desk.Order(ctx, r.PathValue("order"))
	if err != nil {
		s.deskError(w, r, p, err)
		return
	}
	p.Title = p.L.T("f.order") + " " + o.ID
	p.Data = o
	s.render(w, r, http.StatusOK, "order.html", p)
}

func (s *Server) staffAudit(w http.ResponseWriter, r *http.Request, p *page, _ string) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	entries, err := s.desk.Audit(ctx, 500)
	if err != nil {
		s.deskError(w, r, p, err)
		return
	}
	p.Title = p.L.T("audit.title")
	p.Data = entries
	s.render(w, r, http.StatusOK, "audit.html", p)
}

func (s *Server) staffDecide(w http.ResponseWriter, r *http.Request, p *page, staff string) {
	approve, ok := decision(r)
	if !ok {
		s.deskError(w, r, p, ErrInvalidInput)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.Decide(ctx, r.PathValue("id"), approve, staff); err != nil {
		s.deskError(w, r, p, err)
		return
	}
	done := "denied"
	if approve {
		done = "approved"
	}
	http.Redirect(w, r, "/staff?done="+done, http.StatusSeeOther)
}

func decision(r *http.Request) (approve bool, ok bool) {
	switch r.PostFormValue("decision") {
	case "approve":
		return true, true
	case "deny":
		return false, true
	}
	return false, false
}

func (s *Server) staffSetPool(w http.ResponseWriter, r *http.Request, p *page, staff string) {
	order := r.PathValue("order")
	pool := strings.TrimSpace(r.PostFormValue("pool"))
	seats, err := strconv.Atoi(r.PostFormValue("seats"))
	if pool == "" || err != nil || seats < 0 {
		p.Title = p.L.T("error.title")
		p.Error = p.L.T("error.pool")
		s.render(w, r, http.StatusBadRequest, "message.html", p)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.SetPool(ctx, order, r.PostFormValue("product"), pool, seats, staff); err != nil {
		s.deskError(w, r, p, err)
		return
	}
	http.Redirect(w, r, "/staff/orders/"+url.PathEscape(order)+"?done=pool", http.StatusSeeOther)
}

func (s *Server) staffRelease(w http.ResponseWriter, r *http.Request, p *page, staff string) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		p.Title = p.L.T("error.title")
		p.Error = p.L.T("error.reason")
		s.render(w, r, http.StatusBadRequest, "message.html", p)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.ReleaseActivation(ctx, r.PathValue("id"), reason, staff); err != nil {
		s.deskError(w, r, p, err)
		return
	}
	next := "/staff?done=released"
	if o := r.PostFormValue("order"); o != "" {
		next = "/staff/orders/" + url.PathEscape(o) + "?done=released"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// approvePage shows a purchaser's approval link. Looking never decides:
// mail scanners open links, so only the posted form does.
func (s *Server) approvePage(w http.ResponseWriter, r *http.Request) {
	linkPage(s, w, r, "approve", s.desk.ApprovalByToken)
}

func (s *Server) approveDecide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p := s.newPage(w, r)
	p.Title = p.L.T("approve.title")
	approve, ok := decision(r)
	tok := r.PostFormValue("t")
	if !ok || tok == "" {
		s.deskError(w, r, p, ErrInvalidInput)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.DecideByToken(ctx, tok, approve); err != nil {
		if errors.Is(err, ErrNotFound) {
			p.Error = p.L.T("approve.invalid")
			s.render(w, r, http.StatusNotFound, "message.html", p)
			return
		}
		s.deskError(w, r, p, err)
		return
	}
	// A decided link is used up: the desk forgets its token, so the
	// answer cannot be the link's page. It is a page that says what was
	// decided, which a reload shows again.
	done := "denied"
	if approve {
		done = "approved"
	}
	http.Redirect(w, r, "/approve/done?d="+done, http.StatusSeeOther)
}

// approveDone confirms a purchaser's decision.
func (s *Server) approveDone(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r)
	p.Title = p.L.T("approve.title")
	switch d := r.URL.Query().Get("d"); d {
	case "approved", "denied":
		p.Flash = p.L.T("approve.state." + d)
		s.render(w, r, http.StatusOK, "message.html", p)
	default:
		p.Error = p.L.T("error.notfound")
		s.render(w, r, http.StatusNotFound, "message.html", p)
	}
}

func (s *Server) approveRenew(w http.ResponseWriter, r *http.Request) {
	s.linkAction(w, r, "approve", s.desk.RenewApproval, "approve.renewed")
}
