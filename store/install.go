package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// RequestInfo is what the administrator enters for a request (A1, A3).
type RequestInfo struct {
	Order       string
	Fulfillment string
	Email       string
	Name        string   // optional
	Company     string   // optional
	Phone       string   // optional
	Products    []string // registered product codes; empty means all registered
}

// Validate checks the entries an administrator typed, one message each.
func (r *RequestInfo) Validate() error {
	for _, f := range []struct{ name, v string }{{"order ID", r.Order}, {"fulfillment number", r.Fulfillment}, {"e-mail address", r.Email}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("the %s is required: %w", f.name, ErrInvalid)
		}
		if len(f.v) > 256 || strings.ContainsAny(f.v, "\x00\r\n") {
			return fmt.Errorf("the %s %q is not valid: %w", f.name, f.v, ErrInvalid)
		}
	}
	a, err := mail.ParseAddress(r.Email)
	if err != nil || a.Address != r.Email || !strings.Contains(r.Email[strings.LastIndex(r.Email, "@")+1:], ".") {
		return fmt.Errorf("the e-mail address %q is not valid (want name@example.com): %w", r.Email, ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{{"name", r.Name}, {"company", r.Company}, {"phone", r.Phone}} {
		if len(f.v) > 256 || strings.ContainsAny(f.v, "\x00\r\n") {
			return fmt.Errorf("the %s is not valid: %w", f.name, ErrInvalid)
		}
	}
	return nil
}

// WriteRequest makes a request signed by the installation key (decrypted
// with passphrase), writes it to out, and remembers its nonce as the
// pending request, replacing any earlier one.
func (s *Store) WriteRequest(out string, info RequestInfo, passphrase []byte) (*request.Request, error) {
	if err := s.checkOutput(out); err != nil {
		return nil, err
	}
	r, data, err := s.NewRequest(info, passphrase)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(out)
	st := s.st.clone()
	st.Pending = r.pending(abs)
	// The file first: if the commit then fails, the request on disk answers
	// to no pending nonce and its license will be refused, which is safe.
	if err := s.writeOutput(out, data); err != nil {
		return nil, err
	}
	if err := s.commit(st); err != nil {
		os.Remove(out)
		return nil, err
	}
	return &r.Request, nil
}

// Request is a signed request not yet written anywhere.
type Request struct {
	request.Request
	File []byte // armored
}

func (r *Request) pending(file string) *Pending {
	return &Pending{Nonce: r.Nonce, Created: r.IssuedAt, Order: r.Order, Fulfillment: r.Fulfillment, Email: r.Email, Products: r.Products, File: file}
}

// NewRequest makes a request signed by the installation key (decrypted
// with passphrase), exactly as WriteRequest writes it, and changes nothing:
// oat activate sends it to the portal and installs the answer with
// InstallOnline.
func (s *Store) NewRequest(info RequestInfo, passphrase []byte) (*Request, []byte, error) {
	if err := info.Validate(); err != nil {
		return nil, nil, err
	}
	codes := slices.Clone(info.Products)
	if len(codes) == 0 {
		for _, p := range s.st.Products {
			codes = append(codes, p.Code)
		}
		if len(codes) == 0 {
			return nil, nil, ErrNoProducts
		}
	}
	for _, c := range codes {
		if _, ok := s.product(c); !ok {
			return nil, nil, fmt.Errorf("product %s: %w", c, ErrUnknownProduct)
		}
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)

	priv, err := keys.LoadPrivateKey(filepath.Join(s.dir, KeyFile), passphrase)
	if err != nil {
		return nil, nil, err
	}
	id, fp, err := s.Fingerprint()
	if err != nil {
		return nil, nil, err
	}
	// A request below the evidence minimum would bind the license to what
	// the customer can copy or hide; refuse it here, where it can be fixed.
	if err := id.CheckEvidence(); err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, request.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	r := request.Request{
		IssuedAt:    s.now.Unix(),
		Nonce:       nonce,
		Order:       strings.TrimSpace(info.Order),
		Fulfillment: strings.TrimSpace(info.Fulfillment),
		Email:       info.Email,
		Name:        info.Name,
		Company:     info.Company,
		Phone:       info.Phone,
		Products:    codes,
		Host:        id.Host,
		Machine:     fp,
	}
	data, err := request.Seal(r, priv)
	if err != nil {
		return nil, nil, err
	}
	r.Confirm = signing.NewConfirmation(s.pub)
	return &Request{Request: r, File: data}, data, nil
}

// Result is what Install did.
type Result struct {
	License  *response.License
	NoOp     bool   // the same license was already installed
	Replaced uint64 // sequence of the license it superseded, 0 if none
	// ReplacedActivation is the activation of the license it replaced:
	// another one than License's when the server was activated anew
	// (after a recovery), where nothing is "superseded".
	ReplacedActivation string
	Copied             []string
	CopyError          error // copies that failed after the install; oat products sync repairs them
}

// InstallFile reads a license file and installs it; errors name the file.
func (s *Store) InstallFile(path string) (*Result, error) {
	data, err := atomicfile.ReadCapped(path, signing.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", path, err)
	}
	res, err := s.Install(data)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", path, err)
	}
	return res, nil
}

// Install verifies a license file and, if this installation may use it,
// installs it and copies it to every registered product. Nothing changes
// unless every check passes and every product copy could be staged.
func (s *Store) Install(data []byte) (*Result, error) {
	return s.install(data, nil)
}

// install is Install; edit, if set, changes the state committed with the
// license (or alone, if the license is installed already).
func (s *Store) install(data []byte, edit func(*state)) (*Result, error) {
	s.cleanup()
	l, err := response.Parse(data, s.trust)
	if err != nil {
		return nil, err
	}
	var installed *response.License
	if s.st.License != nil {
		if installed, _, err = s.License(); err != nil {
			return nil, err
		}
	}
	_, fp, err := s.Fingerprint()
	if err != nil {
		return nil, err
	}
	var pending []byte
	if s.st.Pending != nil {
		pending = s.st.Pending.Nonce
	}
	err = l.Check(response.Checks{Installation: s.pub, Machine: fp, Pending: pending, Installed: installed, Now: s.now})
	if errors.Is(err, response.ErrAlreadyInstalled) {
		if edit != nil {
			st := s.st.clone()
			edit(&st)
			if err := s.commit(st); err != nil {
				return nil, err
			}
		}
		return &Result{License: l, NoOp: true}, nil
	}
	if err != nil {
		return nil, err
	}

	// Store the license in one canonical form, armored, whatever form it
	// came in: the copies the products read are then byte-identical.
	m, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	armored := signing.Armor(signing.License, m.Raw())

	var staged []*stagedCopy
	abortAll := func() {
		for _, c := range staged {
			c.abort()
		}
	}
	for _, p := range s.st.Products {
		c, err := stageCopy(p, armored)
		if err != nil {
			abortAll()
			return nil, err
		}
		staged = append(staged, c)
	}
	name := licenseName(l.ID)
	if err := atomicfile.Write(filepath.Join(s.dir, name), armored, 0o600); err != nil {
		abortAll()
		return nil, err
	}
	st := s.st.clone()
	old := st.License
	st.License = &Installed{File: name, ID: l.ID, Activation: l.Activation, Sequence: l.Sequence, InstalledAt: s.now.Unix()}
	if len(l.Nonce) > 0 {
		st.Pending = nil // answered: the same nonce can never be used again
	}
	if edit != nil {
		edit(&st)
	}
	if err := s.commit(st); err != nil {
		abortAll()
		os.Remove(filepath.Join(s.dir, name))
		return nil, err
	}
	res := &Result{License: l}
	if old != nil {
		res.Replaced, res.ReplacedActivation = old.Sequence, old.Activation
		if old.File != name {
			os.Remove(filepath.Join(s.dir, old.File))
		}
	}
	if s.hook != nil {
		if err := s.hook("copies"); err != nil {
			return nil, err // a crash after the commit: the copies stay staged
		}
	}
	for i, c := range staged {
		if err := c.finish(); err != nil && res.CopyError == nil {
			res.CopyError = fmt.Errorf("product %s: %w", s.st.Products[i].Code, err)
			continue
		}
		res.Copied = append(res.Copied, s.st.Products[i].Code)
	}
	return res, nil
}

// RewriteReceipt writes the receipt of the last deactivation to out again,
// for when the first write failed or was interrupted, or the file was lost.
// The desk accepts a receipt once, so a second copy frees nothing twice.
func (s *Store) RewriteReceipt(out string) (*release.Receipt, error) {
	if s.st.License != nil || s.st.Released == nil {
		return nil, ErrNoLicense
	}
	r, err := release.Parse(s.st.Released, s.pub)
	if err != nil {
		return nil, fmt.Errorf("the kept receipt: %w", err)
	}
	if r.Online {
		return nil, fmt.Errorf("%w: the last release was made online and the license desk confirmed it; there is no receipt to carry", ErrNoLicense)
	}
	if err := s.checkOutput(out); err != nil {
		return nil, err
	}
	if err := s.writeOutput(out, s.st.Released); err != nil {
		return nil, err
	}
	return r, nil
}

// Deactivate writes a release receipt for the installed license, signed by
// the installation key, to out, and removes the license from the store and
// from every product copy, so that its seats can move (A15, A16, A20).
//
// The receipt is kept in the store by the same commit that removes the
// license; if writing out fails, RewriteReceipt writes it again.
func (s *Store) Deactivate(out, reason string, passphrase []byte) (*release.Receipt, error) {
	if s.st.License == nil {
		return nil, ErrNoLicense
	}
	if s.st.Online != nil {
		return nil, ErrOnline
	}
	if err := s.checkOutput(out); err != nil {
		return nil, err
	}
	s.cleanup()
	r, receipt, err := s.signReceipt(reason, false, passphrase)
	if err != nil {
		return nil, err
	}
	if err := s.removeLicense(receipt); err != nil {
		return nil, err
	}
	if err := s.writeOutput(out, receipt); err != nil {
		return nil, fmt.Errorf("%w (the license is removed and the receipt is kept in the store: run oat deactivate again to write it)", err)
	}
	return r, nil
}

// signReceipt makes a release receipt for the installed license.
func (s *Store) signReceipt(reason string, online bool, passphrase []byte) (*release.Receipt, []byte, error) {
	priv, err := keys.LoadPrivateKey(filepath.Join(s.dir, KeyFile), passphrase)
	if err != nil {
		return nil, nil, err
	}
	host := ""
	if id, err := s.Identity(); err == nil {
		host = id.Host
	}
	rid := make([]byte, 16)
	if _, err := rand.Read(rid); err != nil {
		return nil, nil, err
	}
	r := release.Receipt{
		Activation: s.st.License.Activation,
		IssuedAt:   s.now.Unix(),
		ID:         rid,
		Sequence:   s.st.License.Sequence,
		License:    s.st.License.ID,
		Host:       host,
		Reason:     reason,
		Online:     online,
	}
	receipt, err := release.Seal(r, priv)
	if err != nil {
		return nil, nil, err
	}
	return &r, receipt, nil
}

// removeLicense removes the installed license from the store and from every
// product copy, keeping receipt as the last release's, in one commit.
func (s *Store) removeLicense(receipt []byte) error {
	data, err := s.LicenseData()
	if err != nil {
		return err
	}
	// Remove the copies first and put them back if anything fails, so a
	// product never keeps a license whose seat went back to the pool.
	var removed []Product
	restore := func() {
		for _, p := range removed {
			if c, err := stageCopy(p, data); err == nil {
				c.finish()
			}
		}
	}
	for _, p := range s.st.Products {
		if _, err := settingsDir(p); err != nil {
			restore()
			return err
		}
		path := filepath.Join(p.SettingsDir, CopyFile)
		if _, err := os.Lstat(path); err != nil {
			continue
		}
		if err := atomicfile.Remove(path); err != nil {
			restore()
			return fmt.Errorf("product %s: cannot remove its license copy: %w", p.Code, err)
		}
		removed = append(removed, p)
	}
	// One commit removes the license and keeps the receipt: after it the
	// license is gone and the receipt can always be written again; before
	// it no receipt exists that could free a seat still in use here.
	st := s.st.clone()
	file := st.License.File
	st.License = nil
	st.Online = nil
	st.Released = receipt
	if err := s.commit(st); err != nil {
		restore()
		return err
	}
	os.Remove(filepath.Join(s.dir, file))
	removeAckCopies(s.st.Products)
	return nil
}
