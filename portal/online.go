package portal

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/signing"
)

// The online endpoints take a signed file and answer with a signed file:
// a license (activation) or an acknowledgement (check-in, release). Each is
// limited per client address like every API call, and per installation
// key, so that one server retrying in a loop, or many servers behind one
// address, cannot crowd out the others.

// installationAllowed takes a token for the installation key id, or answers
// 429 itself. The key ID is read before the desk verifies the signature,
// so a client could spend another installation's tokens by naming its key:
// the per-address limit, taken first, bounds how fast it can.
func (s *Server) installationAllowed(w http.ResponseWriter, r *http.Request, id keys.ID) bool {
	ok, wait := s.installLimiter.allow(id.String())
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.writeAPIError(w, r, http.StatusTooManyRequests, "rate_limited", "too many requests from installation "+id.String()+"; retry later")
	}
	return ok
}

// onlineFile reads the body, checks it is a file of kind k and returns it
// with its signing key ID, or answers the error itself.
func (s *Server) onlineFile(w http.ResponseWriter, r *http.Request, k signing.Kind, what string) ([]byte, keys.ID, bool) {
	if s.online == nil {
		s.writeAPIError(w, r, http.StatusNotFound, "not_found", "this portal does not offer online activation")
		return nil, keys.ID{}, false
	}
	data, ok := s.upload(w, r)
	if !ok {
		return nil, keys.ID{}, false
	}
	m, err := signing.Parse(data)
	if err == nil {
		err = m.Expect(k)
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("%s: %w", what, err))
		return nil, keys.ID{}, false
	}
	if !s.installationAllowed(w, r, m.KeyID) {
		return nil, keys.ID{}, false
	}
	return data, m.KeyID, true
}

func (s *Server) writeSigned(w http.ResponseWriter, file []byte) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(file)
}

// postOnlineActivation answers a request sent by oat activate with its
// license, the activation recorded as online (A11).
func (s *Server) postOnlineActivation(w http.ResponseWriter, r *http.Request) {
	data, _, ok := s.onlineFile(w, r, signing.Request, "request file")
	if !ok {
		return
	}
	// onlineFile made sure that s.online is set.
	lic, _, ok := s.activate(w, r, data, s.online.IssueOnline)
	if !ok {
		return
	}
	s.writeSigned(w, lic)
}

// postCheckIn answers a check-in with the desk's acknowledgement (A5).
func (s *Server) postCheckIn(w http.ResponseWriter, r *http.Request) {
	data, _, ok := s.onlineFile(w, r, signing.CheckIn, "check-in")
	if !ok {
		return
	}
	if _, err := checkin.PeekCheckIn(data); err != nil {
		s.fail(w, r, fmt.Errorf("check-in: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deskTimeout)
	defer cancel()
	ack, err := s.online.CheckIn(ctx, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeSigned(w, ack)
}

// postOnlineRelease takes an online installation's release receipt and
// answers with the desk's acknowledgement that the seats are free.
func (s *Server) postOnlineRelease(w http.ResponseWriter, r *http.Request) {
	data, _, ok := s.onlineFile(w, r, signing.Release, "release receipt")
	if !ok {
		return
	}
	if _, err := release.Peek(data); err != nil {
		s.fail(w, r, fmt.Errorf("release receipt: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deskTimeout)
	defer cancel()
	ack, err := s.online.ReleaseOnline(ctx, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeSigned(w, ack)
}
