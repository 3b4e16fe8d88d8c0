package check_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// rack is the machine the licenses in these tests are issued for.
func rack() *machine.Identity {
	return &machine.Identity{Host: "backup01", MachineID: "4c4c4544004a3510804bb4c04f4e3432",
		UUID: "4c4c4544-004a-3510-804b-b4c04f4e3432", Serial: "4J5KN42", Board: "CN7475155B0123",
		CPU: "GenuineIntel-6-85-7", MACs: []string{"b0:83:fe:11:22:33", "b0:83:fe:11:22:34"},
		Sockets: 1, OS: "linux", Class: machine.ClassServer}
}

// clone is rack's disk in other hardware (B4): only the machine GUID and
// the CPU model are the same.
func clone() *machine.Identity {
	id := rack()
	id.UUID, id.Serial, id.Board = "4c4c4544-0000-1111-2222-333344445555", "9ZZZZ99", "CN0000000X0000"
	id.MACs = []string{"b0:83:fe:aa:bb:01", "b0:83:fe:aa:bb:02"}
	return id
}

// server is one settings directory with a license copy, a vendor, a
// machine and a clock.
type server struct {
	t       testing.TB
	dir     string
	marker  string
	vendor  ed25519.PrivateKey
	salt    []byte
	clock   time.Time
	machine *machine.Identity
	online  check.OnlineFunc
}

func newServer(t testing.TB) *server {
	t.Helper()
	base := t.TempDir()
	s := &server{t: t, dir: filepath.Join(base, "backup"), marker: filepath.Join(base, "trial"), clock: t0, machine: rack()}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, s.vendor, _ = ed25519.GenerateKey(rand.Reader)
	s.salt, _ = machine.NewSalt()
	return s
}

func (s *server) pinned() []ed25519.PublicKey {
	return []ed25519.PublicKey{s.vendor.Public().(ed25519.PublicKey)}
}

// license is what the desk would issue for the rack; edit changes it
// before it is signed.
func (s *server) license(edit func(*response.License)) []byte {
	s.t.Helper()
	fp, err := rack().Fingerprint(s.salt)
	if err != nil {
		s.t.Fatal(err)
	}
	inst, _, _ := ed25519.GenerateKey(rand.Reader)
	l := response.License{Issuer: "test desk", Activation: "act-1", NotBefore: t0.Add(-time.Hour).Unix(), IssuedAt: t0.Unix(),
		ID: []byte("0123456789abcdef"), Confirm: signing.NewConfirmation(inst), Sequence: 1, Host: "backup01", Machine: fp,
		Products: []response.Entitlement{
			{Code: "backup-server", Order: "O-1", Fulfillment: "FN-1", Model: "server", Seats: 1},
			{Code: "replica-server", Order: "O-1", Fulfillment: "FN-1", Model: "server", Seats: 1, Expires: t0.Add(20 * 24 * time.Hour).Unix()},
		}}
	if edit != nil {
		edit(&l)
	}
	data, err := response.Seal(l, s.vendor)
	if err != nil {
		s.t.Fatal(err)
	}
	return data
}

func (s *server) install(data []byte) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, check.LicenseFile), data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) check(product string) (*check.Verdict, error) {
	s.t.Helper()
	v, err := check.Check(s.dir, product, s.pinned(), &check.Options{
		Machine:     func() (*machine.Identity, error) { return s.machine, nil },
		TrialMarker: s.marker,
		Now:         func() time.Time { return s.clock },
		Online:      s.online,
	})
	if v == nil {
		s.t.Fatal("Check returned no verdict")
	}
	if (err == nil) != v.Licensed {
		s.t.Fatalf("licensed %v but error %v", v.Licensed, err)
	}
	if err != nil && v.Reason != err.Error() {
		s.t.Fatalf("reason %q, error %q", v.Reason, err)
	}
	return v, err
}

func TestLicensed(t *testing.T) {
	s := newServer(t)
	s.install(s.license(nil))
	v, err := s.check("backup-server")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != check.Licensed || v.Expires != "never" || v.DaysLeft != nil || v.Model != "server" || v.Seats != 1 ||
		v.Activation != "act-1" || v.Reason != "" || v.ClockReadOnly || len(v.Warnings) != 0 {
		t.Errorf("verdict %+v", v)
	}
	// A subscription ending in 20 days is licensed, with a warning.
	v, err = s.check("replica-server")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != check.Licensed || v.DaysLeft == nil || *v.DaysLeft != 20 || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "20 days left") {
		t.Errorf("verdict %+v", v)
	}
	// One NIC replaced: still the same machine (the policy of oat install).
	s.machine = rack()
	s.machine.MACs = []string{"b0:83:fe:11:22:33", "00:1b:21:00:00:01"}
	if _, err := s.check("backup-server"); err != nil {
		t.Errorf("one NIC replaced: %v", err)
	}
}

// TestNotLicensed holds one license against each reason a product may not
// run, as the issue lists them and as bad input makes them.
func TestNotLicensed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		product string
		setup   func(*server)
		want    error
		state   check.State
	}{
		{"product not covered", "backup-virtual", func(s *server) { s.install(s.license(nil)) }, check.ErrNotCovered, check.Unlicensed},
		{"key not pinned", "backup-server", func(s *server) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			good := s.vendor
			s.vendor = other
			s.install(s.license(nil))
			s.vendor = good
		}, check.ErrUntrusted, check.Unlicensed},
		{"copied to other hardware (B4)", "backup-server", func(s *server) { s.install(s.license(nil)); s.machine = clone() }, check.ErrOtherMachine, check.Unlicensed},
		{"machine unreadable", "backup-server", func(s *server) { s.install(s.license(nil)); s.machine = nil }, check.ErrMachine, check.Unlicensed},
		{"no license", "backup-server", func(s *server) {}, check.ErrNoLicense, check.Unlicensed},
		{"file expired", "backup-server", func(s *server) {
			s.install(s.license(func(l *response.License) { l.Expires = t0.Add(-time.Minute).Unix() }))
		}, check.ErrExpired, check.Expired},
		{"subscription ended", "replica-server", func(s *server) { s.install(s.license(nil)); s.clock = t0.Add(21 * 24 * time.Hour) }, check.ErrExpired, check.Expired},
		{"not yet valid", "backup-server", func(s *server) {
			s.install(s.license(func(l *response.License) { l.NotBefore = t0.Add(time.Hour).Unix() }))
		}, check.ErrNotYetValid, check.Unlicensed},
		{"desktop license on a server (B2)", "backup-server", func(s *server) {
			s.install(s.license(func(l *response.License) { l.Products[0].Model = "desktop" }))
		}, check.ErrModel, check.Unlicensed},
		{"altered", "backup-server", func(s *server) {
			data := s.license(nil)
			raw, _ := signing.Parse(data)
			b := raw.Raw()
			b[len(b)-1] ^= 1
			s.install(b)
		}, check.ErrUntrusted, check.Unlicensed},
		{"truncated", "backup-server", func(s *server) { data := s.license(nil); s.install(data[:len(data)/2]) }, check.ErrDamaged, check.Unlicensed},
		{"empty", "backup-server", func(s *server) { s.install(nil) }, check.ErrDamaged, check.Unlicensed},
		{"garbage", "backup-server", func(s *server) { s.install([]byte("not a license\n")) }, check.ErrDamaged, check.Unlicensed},
		{"too large", "backup-server", func(s *server) { s.install(make([]byte, signing.MaxFileSize+1)) }, check.ErrDamaged, check.Unlicensed},
		{"a directory in its place", "backup-server", func(s *server) { os.Mkdir(filepath.Join(s.dir, check.LicenseFile), 0o755) }, check.ErrUnreadable, check.Unlicensed},
		{"settings dir is a file", "backup-server", func(s *server) { os.Remove(s.dir); os.WriteFile(s.dir, []byte("x"), 0o644) }, check.ErrUnreadable, check.Unlicensed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			tc.setup(s)
			v, err := s.check(tc.product)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if v.State != tc.state {
				t.Errorf("state %s, want %s", v.State, tc.state)
			}
		})
	}
}

// TestExpiryClockWoundBack: once a check has seen the license expired,
// setting the clock back does not bring it back (S2).
func TestExpiryClockWoundBack(t *testing.T) {
	s := newServer(t)
	s.install(s.license(func(l *response.License) { l.Expires = t0.Add(10 * 24 * time.Hour).Unix() }))
	if _, err := s.check("backup-server"); err != nil {
		t.Fatal(err)
	}
	s.clock = t0.Add(11 * 24 * time.Hour)
	if _, err := s.check("backup-server"); !errors.Is(err, check.ErrExpired) {
		t.Fatalf("after expiry: %v", err)
	}
	s.clock = t0.Add(24 * time.Hour) // the administrator sets the clock back
	v, err := s.check("backup-server")
	if !errors.Is(err, check.ErrExpired) {
		t.Fatalf("clock wound back: %v", err)
	}
	if v.Now != t0.Add(11*24*time.Hour).Format(time.RFC3339) {
		t.Errorf("judged at %s, want the high-water mark", v.Now)
	}
}

// TestClockReadOnly: a settings directory where the mark cannot be written
// still gets an answer, which says so.
func TestClockReadOnly(t *testing.T) {
	s := newServer(t)
	s.install(s.license(nil))
	// A directory where the mark should be cannot be replaced by a file,
	// whoever runs the test (root ignores permissions).
	if err := os.Mkdir(filepath.Join(s.dir, check.ClockFile), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := s.check("backup-server")
	if err != nil {
		t.Fatal(err)
	}
	if !v.ClockReadOnly || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "cannot record the time") {
		t.Errorf("verdict %+v", v)
	}
}

func TestTrial(t *testing.T) {
	s := newServer(t)
	if v, _ := s.check("backup-server"); v.State != check.Unlicensed || v.TrialDaysLeft != 0 {
		t.Errorf("no marker: %+v", v)
	}
	os.WriteFile(s.marker, []byte("1772355600\n"), 0o644) // 2026-03-01 09:00 UTC, by oat init
	s.clock = t0.Add(10 * 24 * time.Hour)
	v, err := s.check("backup-server")
	if !errors.Is(err, check.ErrNoLicense) || v.State != check.Trial || v.TrialDaysLeft != 20 || *v.DaysLeft != 20 ||
		v.Expires != "2026-03-31T09:00:00Z" {
		t.Errorf("day 10: %v %+v", err, v)
	}
	// A license for another product leaves this one in its trial.
	s.install(s.license(nil))
	if v, err := s.check("backup-virtual"); !errors.Is(err, check.ErrNotCovered) || v.State != check.Trial {
		t.Errorf("not covered: %v %+v", err, v)
	}
	s.clock = t0.Add(31 * 24 * time.Hour)
	if v, _ := s.check("backup-virtual"); v.State != check.Unlicensed || v.TrialDaysLeft != 0 {
		t.Errorf("day 31: %+v", v)
	}
}

func TestOnlineHook(t *testing.T) {
	s := newServer(t)
	s.install(s.license(nil))
	var got string
	s.online = func(dir string, l *response.License, now time.Time) (check.Online, error) {
		got = dir
		return check.Online{Grace: true, Ends: t0.Add(30 * 24 * time.Hour), Warnings: []string{"license expired on 2026-02-15"}}, nil
	}
	v, err := s.check("backup-server")
	if err != nil || v.State != check.Grace || !v.Licensed || *v.DaysLeft != 30 || len(v.Warnings) != 1 || got != s.dir {
		t.Errorf("grace: %v %+v", err, v)
	}
	s.online = func(string, *response.License, time.Time) (check.Online, error) {
		return check.Online{Suspended: true}, nil
	}
	if v, err := s.check("backup-server"); !errors.Is(err, check.ErrSuspended) || v.State != check.Expired {
		t.Errorf("suspended: %v %+v", err, v)
	}
	s.online = func(string, *response.License, time.Time) (check.Online, error) {
		return check.Online{}, errors.New("contact record altered")
	}
	if v, err := s.check("backup-server"); !errors.Is(err, check.ErrSuspended) || !strings.Contains(v.Reason, "contact record altered") {
		t.Errorf("bad record: %v %+v", err, v)
	}
}
