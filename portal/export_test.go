package portal

import "testing"

// StartSMTPSink starts the test SMTP server for the external tests and
// returns its address and a function that reads what it received.
func StartSMTPSink(t *testing.T) (addr string, received func() []string) {
	s := newSMTPSink(t, "127.0.0.1:0")
	return s.ln.Addr().String(), func() []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]string(nil), s.msgs...)
	}
}
