package store

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/online"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/signing"
)

// Online is an online activation's link to its portal and its record of
// contact (A5). The store itself never touches the network: the CLI posts
// the files it makes and hands back the portal's answers.
type Online struct {
	Portal string `json:"portal"`            // the portal's URL, recorded at activation
	CAFile string `json:"ca_file,omitempty"` // a private CA for it
	Proxy  string `json:"proxy,omitempty"`   // an explicit proxy
	// LastContact is the desk's last acknowledgement, as the store's time
	// (never behind the high-water mark) when it was verified.
	LastContact int64 `json:"last_contact"`
	// Failing says the latest attempt to reach the portal failed;
	// LastError says how.
	Failing   bool   `json:"failing,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Releasing is the online release receipt sent to the portal and not
	// yet confirmed; it is sent again, never a new one, until it is.
	Releasing []byte `json:"releasing,omitempty"`
	// Ack is the desk's latest acknowledgement, armored, so that a
	// product registered later gets it beside its license copy too.
	Ack []byte `json:"ack,omitempty"`
}

// Link is how to reach the portal, as the admin gave it to oat activate.
type Link struct {
	Portal, CAFile, Proxy string
}

// Online returns the online activation's record, or nil for an offline
// (or no) activation.
func (s *Store) Online() *Online {
	if s.st.Online == nil {
		return nil
	}
	o := *s.st.Online
	o.Releasing = slices.Clone(o.Releasing)
	return &o
}

// heartbeat is the online package's view of the contact record: the time
// seen is the store's high-water mark, so a clock set back does not turn
// the count back (A5, S2).
func (s *Store) heartbeat() online.Heartbeat {
	o := s.st.Online
	return online.Heartbeat{LastContact: time.Unix(o.LastContact, 0), Failing: o.Failing, Seen: time.Unix(s.st.HighWater, 0)}
}

// OnlineStatus is where the A5 timeline stands for an online activation.
func (s *Store) OnlineStatus() (online.Status, bool) {
	if s.st.Online == nil || s.st.License == nil {
		return online.Status{}, false
	}
	h := s.heartbeat()
	return h.Status(s.now), true
}

// InstallOnline installs the license the portal answered req with,
// exactly as Install does (req stands for the pending request), and
// records in the same commit that the activation is online, with its
// portal, and that contact was made now. If it fails, nothing changed.
func (s *Store) InstallOnline(data []byte, req *Request, link Link) (*Result, error) {
	if s.st.License != nil && s.st.Online == nil {
		return nil, fmt.Errorf("this installation is activated offline: release it first (oat deactivate --out), then activate online (A20)")
	}
	h := online.Heartbeat{Seen: s.now}
	h.Contact(s.now)
	saved := s.st.Pending
	s.st.Pending = req.pending("")
	defer func() {
		if s.st.Pending != nil {
			s.st.Pending = saved // not installed: the pending request stays as it was
		}
	}()
	return s.install(data, func(st *state) {
		o := &Online{}
		if st.Online != nil {
			*o = *st.Online
		}
		o.Portal, o.CAFile, o.Proxy = link.Portal, link.CAFile, link.Proxy
		o.LastContact, o.Failing, o.LastError = h.LastContact.Unix(), false, ""
		st.Online = o
		if st.Pending != nil && st.Pending.File == "" {
			st.Pending = saved // the license was installed already: keep what was pending
		}
	})
}

// CheckIn is a check-in made and waiting for its acknowledgement.
type CheckIn struct {
	File       []byte
	Nonce      []byte
	Activation string
}

// NewCheckIn signs a check-in with the installation key (decrypted with
// passphrase): the activation, the license sequence held, a fresh nonce.
// Nothing is committed: the nonce lives as long as this open store.
func (s *Store) NewCheckIn(passphrase []byte) (*CheckIn, error) {
	if s.st.Online == nil {
		return nil, ErrNotOnline
	}
	if s.st.License == nil {
		return nil, ErrNoLicense
	}
	priv, err := keys.LoadPrivateKey(filepath.Join(s.dir, KeyFile), passphrase)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, checkin.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	l := s.st.License
	file, err := checkin.SealCheckIn(checkin.CheckIn{Activation: l.Activation, IssuedAt: s.now.Unix(), Nonce: nonce, Sequence: l.Sequence}, priv)
	if err != nil {
		return nil, err
	}
	return &CheckIn{File: file, Nonce: nonce, Activation: l.Activation}, nil
}

// Refreshed is what an acknowledged check-in did.
type Refreshed struct {
	Ack       *checkin.Ack
	Installed *Result // the newer license it carried, installed; nil if none
	Copied    []string
}

// AcceptAck verifies the portal's answer to c and records the contact: the
// A5 timeline starts again from now, and a license it carries is installed
// exactly as Install would, in the same commit. If the carried license is
// refused, nothing changes and the error says why.
func (s *Store) AcceptAck(c *CheckIn, data []byte) (*Refreshed, error) {
	if s.st.Online == nil || s.st.License == nil {
		return nil, ErrNotOnline
	}
	a, err := checkin.ParseAck(data, s.trust)
	if err != nil {
		return nil, fmt.Errorf("the portal's acknowledgement: %w", err)
	}
	if err := a.Answers(c.Activation, c.Nonce, checkin.StateActive); err != nil {
		return nil, fmt.Errorf("the portal's acknowledgement: %w", err)
	}
	armored := signing.Armor(signing.Ack, mustRaw(data))
	h := s.heartbeat()
	h.Contact(s.now)
	contact := func(st *state) {
		st.Online.LastContact, st.Online.Failing, st.Online.LastError = h.LastContact.Unix(), false, ""
		st.Online.Ack = armored
	}
	out := &Refreshed{Ack: a}
	if len(a.License) > 0 && a.Sequence > s.st.License.Sequence {
		res, err := s.install(a.License, contact)
		if err != nil {
			return nil, fmt.Errorf("the newer license the portal sent (license %d): %w", a.Sequence, err)
		}
		out.Installed = res
	} else {
		st := s.st.clone()
		contact(&st)
		if err := s.commit(st); err != nil {
			return nil, err
		}
	}
	// The products get the acknowledgement beside their license copy, to
	// judge A5 from vendor-signed data; best effort, like the copies.
	for _, p := range s.st.Products {
		dir, err := settingsDir(p)
		if err != nil {
			continue
		}
		if err := atomicfile.Write(filepath.Join(dir, AckCopyFile), armored, 0o644); err == nil {
			out.Copied = append(out.Copied, p.Code)
		}
	}
	return out, nil
}

// copyAck writes the latest acknowledgement beside p's license copy, best
// effort like the copies: a product registered after a refresh judges A5
// from it rather than from the license's older issue time.
func (s *Store) copyAck(p Product) {
	if s.st.Online == nil || len(s.st.Online.Ack) == 0 {
		return
	}
	if dir, err := settingsDir(p); err == nil {
		atomicfile.Write(filepath.Join(dir, AckCopyFile), s.st.Online.Ack, 0o644)
	}
}

func mustRaw(data []byte) []byte {
	m, err := signing.Parse(data)
	if err != nil {
		return nil // ParseAck accepted data, so it parses
	}
	return m.Raw()
}

// ContactFailed records a failed attempt to reach the portal: the A5
// warnings start at once rather than after the missed contacts.
func (s *Store) ContactFailed(reason error) error {
	if s.st.Online == nil {
		return ErrNotOnline
	}
	h := s.heartbeat()
	h.Lost(s.now)
	st := s.st.clone()
	st.Online.Failing = h.Failing
	st.Online.LastError = reason.Error()
	return s.commit(st)
}

// OnlineReceipt returns the online release receipt to send: the one sent
// before and not yet confirmed, or a new one, signed by the installation key
// and committed before it is sent so that a retry sends the very same one.
func (s *Store) OnlineReceipt(reason string, passphrase []byte) (*release.Receipt, []byte, error) {
	if s.st.Online == nil {
		return nil, nil, ErrNotOnline
	}
	if s.st.License == nil {
		return nil, nil, ErrNoLicense
	}
	if kept := s.st.Online.Releasing; kept != nil {
		r, err := release.Parse(kept, s.pub)
		if err == nil && r.Activation == s.st.License.Activation {
			return r, kept, nil
		}
	}
	r, receipt, err := s.signReceipt(reason, true, passphrase)
	if err != nil {
		return nil, nil, err
	}
	st := s.st.clone()
	st.Online.Releasing = receipt
	if err := s.commit(st); err != nil {
		return nil, nil, err
	}
	return r, receipt, nil
}

// FinishOnlineRelease takes the portal's acknowledgement of the online
// release receipt r and only then removes the license from the store and
// every product (A15, A20).
func (s *Store) FinishOnlineRelease(r *release.Receipt, data []byte) error {
	if s.st.Online == nil || s.st.License == nil || s.st.Online.Releasing == nil {
		return ErrNoLicense
	}
	a, err := checkin.ParseAck(data, s.trust)
	if err != nil {
		return fmt.Errorf("the portal's acknowledgement: %w", err)
	}
	if err := a.Answers(r.Activation, r.ID, checkin.StateReleased); err != nil {
		return fmt.Errorf("the portal's acknowledgement: %w", err)
	}
	s.cleanup()
	return s.removeLicense(s.st.Online.Releasing)
}

// removeAckCopies is used when a license goes: products must not keep an
// acknowledgement of an activation that is no more.
func removeAckCopies(products []Product) {
	for _, p := range products {
		if dir, err := settingsDir(p); err == nil {
			os.Remove(filepath.Join(dir, AckCopyFile))
		}
	}
}
