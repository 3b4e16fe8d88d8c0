package portal

import (
	"errors"
	"net/http"
)

// The registration link of an activation's mail (FAQ 2.1, 2.9, 2.11): the
// page shows what was activated and confirms the address with a button;
// an expired link shows its expiry and sends a fresh 72-hour one.

type registrationView struct {
	R       *Registration
	Token   string
	Expired bool
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r)
	p.Title = p.L.T("register.title")
	tok := r.URL.Query().Get("t")
	ctx, cancel := s.ctx(r)
	defer cancel()
	reg, err := s.desk.RegistrationByToken(ctx, tok)
	switch {
	case errors.Is(err, ErrExpired) && reg != nil:
		p.Data = registrationView{R: reg, Token: tok, Expired: true}
		s.render(w, r, http.StatusOK, "register.html", p)
	case err != nil && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) || errors.Is(err, ErrInvalidInput)):
		p.Error = p.L.T("register.invalid")
		s.render(w, r, http.StatusNotFound, "message.html", p)
	case err != nil:
		s.deskError(w, r, p, err)
	default:
		p.Data = registrationView{R: reg, Token: tok}
		s.render(w, r, http.StatusOK, "register.html", p)
	}
}

func (s *Server) registerConfirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p := s.newPage(w, r)
	p.Title = p.L.T("register.title")
	tok := r.PostFormValue("t")
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.ConfirmRegistration(ctx, tok); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidInput) {
			p.Error = p.L.T("register.invalid")
			s.render(w, r, http.StatusNotFound, "message.html", p)
			return
		}
		s.deskError(w, r, p, err)
		return
	}
	p.Flash = p.L.T("register.done")
	s.render(w, r, http.StatusOK, "message.html", p)
}

func (s *Server) registerRenew(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p := s.newPage(w, r)
	p.Title = p.L.T("register.title")
	tok := r.PostFormValue("t")
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.desk.RenewRegistration(ctx, tok); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidInput) {
			p.Error = p.L.T("register.invalid")
			s.render(w, r, http.StatusNotFound, "message.html", p)
			return
		}
		s.deskError(w, r, p, err)
		return
	}
	p.Flash = p.L.T("register.renewed")
	s.render(w, r, http.StatusOK, "message.html", p)
}
