package portal

import (
	"context"
	"errors"
	"net/http"
)

// The links the portal mails, a registration's (FAQ 2.1, 2.9, 2.11) and a
// purchaser's approval (A8), work alike: the link's page shows what it is
// for, found by the token t it carries; an expired link still shows it,
// with a button that mails a fresh 72-hour one (A7); the page's forms post
// the token back. kind names the page's template, kind.html, and its
// messages kind.title and kind.invalid.

// linkView is the data of a link's page.
type linkView[T any] struct {
	Item    *T
	Token   string
	Expired bool
}

// linkPage answers a link's page, with what lookup finds for its token.
func linkPage[T any](s *Server, w http.ResponseWriter, r *http.Request, kind string, lookup func(context.Context, string) (*T, error)) {
	p := s.newPage(w, r)
	p.Title = p.L.T(kind + ".title")
	tok := r.URL.Query().Get("t")
	ctx, cancel := s.ctx(r)
	defer cancel()
	item, err := lookup(ctx, tok)
	switch {
	case errors.Is(err, ErrExpired) && item != nil:
		p.Data = linkView[T]{Item: item, Token: tok, Expired: true}
		s.render(w, r, http.StatusOK, kind+".html", p)
	case err != nil && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) || errors.Is(err, ErrInvalidInput)):
		p.Error = p.L.T(kind + ".invalid")
		s.render(w, r, http.StatusNotFound, "message.html", p)
	case err != nil:
		s.deskError(w, r, p, err)
	default:
		p.Data = linkView[T]{Item: item, Token: tok}
		s.render(w, r, http.StatusOK, kind+".html", p)
	}
}

// linkAction answers a form posted from a link's page: act takes the
// link's token, and the answer is the message done, or that the link is
// not valid.
func (s *Server) linkAction(w http.ResponseWriter, r *http.Request, kind string, act func(context.Context, string) error, done string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p := s.newPage(w, r)
	p.Title = p.L.T(kind + ".title")
	tok := r.PostFormValue("t")
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := act(ctx, tok); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidInput) {
			p.Error = p.L.T(kind + ".invalid")
			s.render(w, r, http.StatusNotFound, "message.html", p)
			return
		}
		s.deskError(w, r, p, err)
		return
	}
	p.Flash = p.L.T(done)
	s.render(w, r, http.StatusOK, "message.html", p)
}
