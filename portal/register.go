package portal

import "net/http"

// The registration link of an activation's mail (FAQ 2.1, 2.9, 2.11): the
// page shows what was activated and confirms the address with a button;
// an expired link shows its expiry and sends a fresh 72-hour one.

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request) {
	linkPage(s, w, r, "register", s.desk.RegistrationByToken)
}

func (s *Server) registerConfirm(w http.ResponseWriter, r *http.Request) {
	s.linkAction(w, r, "register", s.desk.ConfirmRegistration, "register.done")
}

func (s *Server) registerRenew(w http.ResponseWriter, r *http.Request) {
	s.linkAction(w, r, "register", s.desk.RenewRegistration, "register.renewed")
}
