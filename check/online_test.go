package check_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/response"
)

func (s *server) ack(signer ed25519.PrivateKey, activation string, at time.Time) {
	s.t.Helper()
	data, err := checkin.SealAck(checkin.Ack{Issuer: "test desk", Activation: activation, IssuedAt: at.Unix(),
		Nonce: []byte("0123456789abcdef"), State: checkin.StateActive, Sequence: 1}, signer)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, check.AckFile), data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestRuleA5_OnlineAck: a product judges an online activation's A5
// timeline from the vendor-signed license and acknowledgement beside it;
// an acknowledgement not signed by the pinned key, or for another
// activation, extends nothing; an offline license needs no contact.
func TestRuleA5_OnlineAck(t *testing.T) {
	s := newServer(t)
	s.online = check.OnlineAck(s.pinned())
	day := func(d int) time.Time { return t0.Add(time.Duration(d) * 24 * time.Hour) }

	s.install(s.license(nil)) // offline: no contact needed, ever
	s.clock = day(400)
	if v, err := s.check("backup-server"); err != nil || v.State != check.Licensed {
		t.Fatalf("offline license on day 400: %v %+v", err, v)
	}

	s = newServer(t)
	s.online = check.OnlineAck(s.pinned())
	s.install(s.license(func(l *response.License) { l.Online = true }))
	for _, tt := range []struct {
		day   int
		state check.State
	}{{13, check.Licensed}, {14, check.Grace}, {43, check.Grace}, {44, check.Expired}} {
		s.clock = day(tt.day)
		v, err := s.check("backup-server")
		if v.State != tt.state || (tt.state == check.Expired) != errors.Is(err, check.ErrSuspended) {
			t.Errorf("day %d from the license: %v %+v", tt.day, err, v)
		}
	}
	// A genuine acknowledgement on day 44 restores the license at once.
	s.ack(s.vendor, "act-1", day(44))
	if v, err := s.check("backup-server"); err != nil || v.State != check.Licensed || len(v.Warnings) != 0 {
		t.Fatalf("acknowledged on day 44: %v %+v", err, v)
	}
	// Forged or foreign ones do not.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	s.clock = day(100)
	for name, write := range map[string]func(){
		"another key":        func() { s.ack(stranger, "act-1", day(99)) },
		"another activation": func() { s.ack(s.vendor, "act-2", day(99)) },
		"damaged":            func() { os.WriteFile(filepath.Join(s.dir, check.AckFile), []byte("junk"), 0o644) },
	} {
		write()
		if v, err := s.check("backup-server"); !errors.Is(err, check.ErrSuspended) || v.State != check.Expired {
			t.Errorf("%s: %v %+v", name, err, v)
		}
	}
}
