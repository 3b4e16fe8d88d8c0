// Package store is an isolated server's activation state: its installation
// key, the vendor keys it trusts, the machine salt, the co-installed
// products and where their license copies go, the pending request, the
// installed license, the trial start and a high-water mark of the time.
//
// A store is a directory:
//
//	installation.key   the installation's Ed25519 private key, encrypted (mode 0600)
//	installation.pub   its public key, PEM SPKI: verifies requests and release receipts
//	trust.pem          the trusted vendor public keys, PEM, one or more (key rotation)
//	state.json         everything else, JSON; the commit point of every change
//	license-<ID>.oat   the installed license, armored, exactly as signed
//	lock               the file lock that serializes oat processes
//
// Every change is made under the lock and committed by one atomic write
// of state.json (temp file, fsync, rename, directory fsync): a crash at any
// moment leaves the store as it was before the change or after it. Files a
// change writes before its commit (the new license, copies staged in the
// products' settings directories) are named so that an interrupted change
// leaves only unreferenced files behind, which the next change removes.
package store

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
)

// File names in the store directory and in product settings directories.
const (
	KeyFile   = "installation.key"
	PubFile   = "installation.pub"
	TrustFile = "trust.pem"
	StateFile = "state.json"
	LockFile  = "lock"
	// CopyFile is the license copy written into every registered
	// product's settings directory (A9).
	CopyFile = "oat-license.oat"
	// AckCopyFile is, for an online activation, the latest acknowledgement
	// of the desk, written beside CopyFile so that a product can judge the
	// A5 timeline from vendor-signed data.
	AckCopyFile = "oat-checkin.oat"
)

// TrialDays is the length of the trial an unactivated installation runs (A4).
const TrialDays = check.TrialDays

// maxStateFile caps state.json; it holds a few hundred bytes per product.
const maxStateFile = 1 << 20

// Sentinel errors callers branch on.
var (
	ErrNotInitialized = errors.New("not an oat store (run oat init first)")
	ErrInitialized    = errors.New("an installation already exists here; refusing to overwrite it")
	ErrNoLicense      = errors.New("no license is installed")
	ErrUnknownProduct = errors.New("product is not registered (see oat products list)")
	ErrProductExists  = errors.New("product is already registered")
	ErrNoProducts     = errors.New("no products are registered (add them with oat products add)")
	ErrInvalid        = errors.New("invalid value")
	ErrOnline         = errors.New("this installation was activated online: release it online with oat deactivate --portal (FAQ 3.11); " +
		"the license desk refuses an offline receipt for it, and for a server that cannot reach the portal any more the desk's oat desk release-stale is the way out")
	ErrNotOnline = errors.New("this installation was not activated online (oat activate): it has no portal to keep in touch with, and needs none")
)

// Options says where a store finds the world around it.
type Options struct {
	// Root is the system root the machine identity is read under
	// (OAT_SYSROOT); "" means "/".
	Root string
	// TrialMarker is a file outside the store that also records the first
	// use, so that deleting the store does not restart the trial. Empty
	// means none.
	TrialMarker string
	// Now returns the wall clock; nil means time.Now.
	Now func() time.Time
	// KDF protects the installation key at Init; zero means keys.DefaultKDF.
	KDF keys.KDFParams
	// Overwrite lets a request or release receipt replace an existing file
	// (the CLI's --force). By default writing over a file fails with an
	// error wrapping ErrOutputExists, before anything changes.
	Overwrite bool
}

// errLockIsLink reports a symbolic link planted in place of the lock file.
var errLockIsLink = errors.New("the lock file is a symbolic link; remove it")

// ErrOutputExists is returned when a request or receipt would replace an
// existing file and Options.Overwrite is false.
var ErrOutputExists = errors.New("the file exists: oat does not overwrite files (give --force to replace it)")

// OutputMode is the mode of request and receipt files: they carry the
// order's fulfillment number, the order's only secret.
const OutputMode fs.FileMode = 0o600

// checkOutput fails early, before any change, if out cannot be written:
// its directory is missing, or it exists and may not be replaced.
func (s *Store) checkOutput(out string) error {
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: the directory %s does not exist", out, dir)
	}
	st, err := os.Lstat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", out, unwrapPath(err))
	case st.IsDir():
		return fmt.Errorf("%s is a directory", out)
	case !s.opts.Overwrite:
		return fmt.Errorf("%s: %w", out, ErrOutputExists)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file", out)
	}
	return nil
}

// writeOutput writes a request or receipt file whole, never over an
// existing file unless Overwrite is set.
func (s *Store) writeOutput(out string, data []byte) error {
	var err error
	if s.opts.Overwrite {
		err = atomicfile.Write(out, data, OutputMode)
	} else {
		err = atomicfile.Create(out, data, OutputMode)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s: %w", out, ErrOutputExists)
	}
	return fmt.Errorf("cannot write %s: %w", out, unwrapPath(err))
}

// Product is a co-installed product registered with the store.
type Product struct {
	Code        string `json:"code"`
	SettingsDir string `json:"settings_dir"`
	Added       int64  `json:"added"`
}

// Pending is the request the installation waits for an answer to.
type Pending struct {
	Nonce       []byte   `json:"nonce"`
	Created     int64    `json:"created"`
	Order       string   `json:"order"`
	Fulfillment string   `json:"fulfillment"`
	Email       string   `json:"email"`
	Products    []string `json:"products"`
	File        string   `json:"file"`
}

// Installed records the license installed in the store.
type Installed struct {
	File        string `json:"file"` // name in the store directory
	ID          []byte `json:"id"`   // the license's cti
	Activation  string `json:"activation"`
	Sequence    uint64 `json:"seq"`
	InstalledAt int64  `json:"installed_at"`
}

// state is state.json.
type state struct {
	Version    int        `json:"version"`
	Salt       []byte     `json:"salt"`
	Created    int64      `json:"created"`
	HighWater  int64      `json:"high_water"`
	TrialStart int64      `json:"trial_start"`
	Products   []Product  `json:"products"`
	Pending    *Pending   `json:"pending,omitempty"`
	License    *Installed `json:"license,omitempty"`
	// Released keeps the receipt of the last deactivation, committed in the
	// same step that removes the license, so that a crash before the
	// receipt file is written never loses the only way to free the seat.
	Released []byte `json:"released,omitempty"`
	// Online is set while the installed license is an online activation's.
	Online *Online `json:"online,omitempty"`
	// Rotations are the vendor key rotation statements applied, in order;
	// the trusted set is derived from trust.pem (the keys given at init)
	// through them each time the store is opened (package rotation).
	Rotations [][]byte `json:"rotations,omitempty"`
}

// Store is an open, locked store. It is not safe for concurrent use by
// goroutines; open it once per operation and Close it.
type Store struct {
	dir   string
	opts  Options
	lock  *os.File
	st    state
	roots *keys.TrustSet // the vendor keys given at init (trust.pem)
	trust *keys.TrustSet // roots with the rotations applied
	pub   ed25519.PublicKey
	now   time.Time // max(clock, high-water mark), fixed when opened

	// hook, when set by tests, runs at named points of a change and can
	// stop it there as a crash would.
	hook func(point string) error
}

// Init creates a store in dir (created if missing, which must otherwise be
// empty of store files): a new installation key encrypted with passphrase,
// the trusted vendor keys, a fresh machine salt, and the trial start.
func Init(dir string, vendors []ed25519.PublicKey, passphrase []byte, opts Options) error {
	if len(vendors) == 0 {
		return errors.New("init: at least one trusted vendor key is needed")
	}
	if len(passphrase) == 0 {
		return errors.New("init: the passphrase for the installation key is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	// An existing directory may be looser than a new one (0777 stays
	// 0777 through MkdirAll): the store holds the installation key.
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("init %s: %w", dir, unwrapPath(err))
	} else if !st.IsDir() {
		return fmt.Errorf("init %s: not a directory", dir)
	} else if st.Mode().Perm() != 0o700 && !isWindows() {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("init %s: cannot restrict it to mode 0700: %w", dir, unwrapPath(err))
		}
	}
	unlock, err := acquire(dir)
	if err != nil {
		return err
	}
	defer unlock.Close()
	if _, err := os.Lstat(filepath.Join(dir, StateFile)); err == nil {
		return fmt.Errorf("init %s: %s exists: %w", dir, StateFile, ErrInitialized)
	}
	// Without state.json the directory is no store: key files found here
	// are what an init killed half-way left, never used for any request,
	// and are replaced.
	for _, f := range []string{KeyFile, PubFile, TrustFile} {
		if err := atomicfile.Remove(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("init %s: %w", dir, err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	kdf := opts.KDF
	if kdf == (keys.KDFParams{}) {
		kdf = keys.DefaultKDF
	}
	sealed, err := keys.EncryptPrivateKey(priv, passphrase, kdf)
	if err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	salt, err := machine.NewSalt()
	if err != nil {
		return err
	}
	now := clock(opts)().Unix()
	start := now
	if m := readMarker(opts.TrialMarker); m > 0 && m < start {
		start = m // the trial began before this store was made (A4)
	}
	st := state{Version: 1, Salt: salt, Created: now, HighWater: now, TrialStart: start, Products: []Product{}}
	stateData, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// state.json goes last: until it exists the directory is not a store,
	// and a failed or interrupted init can simply be run again.
	written := []string{}
	undo := func() {
		for _, p := range written {
			os.Remove(p)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{KeyFile, sealed, 0o600},
		{PubFile, keys.MarshalPublicKey(pub), 0o644},
		{TrustFile, keys.NewTrustSet(vendors...).Marshal(), 0o644},
		{StateFile, append(stateData, '\n'), 0o600},
	} {
		p := filepath.Join(dir, f.name)
		if err := atomicfile.Create(p, f.data, f.perm); err != nil {
			undo()
			return fmt.Errorf("init %s: %w", dir, err)
		}
		written = append(written, p)
	}
	writeMarker(opts.TrialMarker, start)
	return nil
}

// acquire opens and locks DIR/lock.
func acquire(dir string) (*os.File, error) {
	f, err := openLock(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("lock store %s: %w", dir, unwrapPath(err))
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock store %s: %s is not a regular file", dir, LockFile)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock store %s: %w", dir, err)
	}
	return f, nil
}

// Open locks the store in dir and reads it. Close releases the lock.
func Open(dir string, opts Options) (*Store, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("store %s: is a file, not a store directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// ENOTDIR: a file where a directory of the path should be.
			return nil, fmt.Errorf("store %s: %w", dir, ErrNotInitialized)
		}
		return nil, fmt.Errorf("store %s: %w", dir, unwrapPath(err))
	}
	lock, err := acquire(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opts: opts, lock: lock}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
	}
	s.now = clock(opts)()
	if hw := time.Unix(s.st.HighWater, 0); hw.After(s.now) {
		s.now = hw // the clock was set back: time never runs backwards here (S2)
	}
	return s, nil
}

func clock(opts Options) func() time.Time {
	if opts.Now != nil {
		return opts.Now
	}
	return time.Now
}

func (s *Store) load() error {
	path := filepath.Join(s.dir, StateFile)
	data, err := atomicfile.ReadCapped(path, maxStateFile)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &s.st); err != nil {
		return fmt.Errorf("store %s is damaged: %w", path, err)
	}
	if s.st.Version != 1 || len(s.st.Salt) != machine.SaltSize {
		return fmt.Errorf("store %s is damaged or from another version (version %d)", path, s.st.Version)
	}
	if s.roots, err = keys.LoadTrustSet(filepath.Join(s.dir, TrustFile)); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	if s.trust, err = rotation.Trust(keyList(s.roots), s.st.Rotations); err != nil {
		return fmt.Errorf("store %s: the vendor key chain does not verify: %w", s.dir, err)
	}
	if s.pub, err = keys.LoadPublicKey(filepath.Join(s.dir, PubFile)); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}

// Close releases the store's lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	unlockFile(s.lock)
	err := s.lock.Close()
	s.lock = nil
	return err
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// PublicKey returns the installation's public key.
func (s *Store) PublicKey() ed25519.PublicKey { return s.pub }

// Now returns the time the store judges validity by: the clock, or the
// latest time it has seen if the clock is behind that.
func (s *Store) Now() time.Time { return s.now }

// Salt returns the installation's machine salt.
func (s *Store) Salt() []byte { return slices.Clone(s.st.Salt) }

// Products returns the registered co-installed products.
func (s *Store) Products() []Product { return slices.Clone(s.st.Products) }

// Pending returns the pending request, or nil.
func (s *Store) Pending() *Pending { return s.st.Pending }

// Installed returns the installed license's record, or nil.
func (s *Store) Installed() *Installed { return s.st.License }

// LastReceipt returns the armored release receipt of the last
// deactivation, or nil if the store never deactivated.
func (s *Store) LastReceipt() []byte { return s.st.Released }

// Trusted returns the trusted vendor keys.
func (s *Store) Trusted() *keys.TrustSet { return s.trust }

// commit writes st as the new state atomically; on success it becomes the
// store's state. It always records the time high-water mark.
func (s *Store) commit(st state) error {
	st.HighWater = max(st.HighWater, s.now.Unix())
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if s.hook != nil {
		if err := s.hook("commit"); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(filepath.Join(s.dir, StateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	s.st = st
	return nil
}

// clone returns a deep enough copy of the state to change and commit.
func (st state) clone() state {
	st.Products = slices.Clone(st.Products)
	if st.Pending != nil {
		p := *st.Pending
		st.Pending = &p
	}
	if st.License != nil {
		l := *st.License
		st.License = &l
	}
	st.Released = slices.Clone(st.Released)
	if st.Online != nil {
		o := *st.Online
		o.Releasing = slices.Clone(o.Releasing)
		st.Online = &o
	}
	st.Rotations = slices.Clone(st.Rotations)
	return st
}

// Identity reads this machine's identity under the store's root.
func (s *Store) Identity() (*machine.Identity, error) { return machine.Collect(s.opts.Root) }

// Fingerprint is this machine's identity hashed with the installation's salt.
func (s *Store) Fingerprint() (*machine.Identity, machine.Fingerprint, error) {
	id, err := s.Identity()
	if err != nil {
		return nil, machine.Fingerprint{}, err
	}
	fp, err := id.Fingerprint(s.st.Salt)
	return id, fp, err
}

// LicenseData returns the installed license file, armored, or ErrNoLicense.
func (s *Store) LicenseData() ([]byte, error) {
	if s.st.License == nil {
		return nil, ErrNoLicense
	}
	path := filepath.Join(s.dir, s.st.License.File)
	data, err := atomicfile.ReadCapped(path, signing.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("installed license %s: %w", path, err)
	}
	return data, nil
}

// License returns the installed license, verified again with the trusted
// keys (the store directory is not trusted more than the files in it).
func (s *Store) License() (*response.License, []byte, error) {
	data, err := s.LicenseData()
	if err != nil {
		return nil, nil, err
	}
	l, err := response.Parse(data, s.trust)
	if err != nil {
		return nil, nil, fmt.Errorf("installed license %s: %w", filepath.Join(s.dir, s.st.License.File), err)
	}
	return l, data, nil
}

// ApplyRotation applies a vendor key rotation statement: it must verify
// with a key trusted now, through the chain from the keys given at init,
// and it is recorded in the same commit that makes it count. wantRemove
// says which kind the caller expects (oat trust add or oat trust remove).
func (s *Store) ApplyRotation(data []byte, wantRemove bool) (*rotation.Statement, error) {
	st, trust, err := rotation.Next(keyList(s.roots), s.st.Rotations, data)
	if err != nil {
		return nil, err
	}
	if (st.Remove != nil) != wantRemove {
		if wantRemove {
			return nil, fmt.Errorf("%w: this statement adds a key; use oat trust add", rotation.ErrInvalid)
		}
		return nil, fmt.Errorf("%w: this statement removes a key; use oat trust remove", rotation.ErrInvalid)
	}
	next := s.st.clone()
	next.Rotations = append(next.Rotations, bytes.Clone(data))
	if err := s.commit(next); err != nil {
		return nil, err
	}
	s.trust = trust
	return st, nil
}

// Roots returns the vendor keys given at init, which the chain starts from.
func (s *Store) Roots() *keys.TrustSet { return s.roots }

func keyList(t *keys.TrustSet) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, id := range t.IDs() {
		k, _ := t.Lookup(id)
		out = append(out, k)
	}
	return out
}

var productCode = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidProductCode reports whether code is a well-formed product code.
func ValidProductCode(code string) bool { return productCode.MatchString(code) }

func (s *Store) product(code string) (Product, bool) {
	for _, p := range s.st.Products {
		if p.Code == code {
			return p, true
		}
	}
	return Product{}, false
}

// AddProduct registers a co-installed product and its settings directory,
// which must exist. If a license is installed, it is copied there at once
// (A10); copied says so.
func (s *Store) AddProduct(code, settingsDir string) (copied bool, err error) {
	if !ValidProductCode(code) {
		return false, fmt.Errorf("product code %q: %w: use lower-case letters, digits, '.', '_' or '-'", code, ErrInvalid)
	}
	if _, ok := s.product(code); ok {
		return false, fmt.Errorf("product %s: %w", code, ErrProductExists)
	}
	abs, err := filepath.Abs(settingsDir)
	if err != nil {
		return false, err
	}
	if err := checkSettingsDir(abs); err != nil {
		return false, err
	}
	p := Product{Code: code, SettingsDir: abs, Added: s.now.Unix()}
	var staged *stagedCopy
	if s.st.License != nil {
		data, err := s.LicenseData()
		if err != nil {
			return false, err
		}
		if staged, err = stageCopy(p, data); err != nil {
			return false, err
		}
	}
	st := s.st.clone()
	st.Products = append(st.Products, p)
	if err := s.commit(st); err != nil {
		staged.abort()
		return false, err
	}
	if staged != nil {
		if err := staged.finish(); err != nil {
			return false, fmt.Errorf("product %s registered, but its license copy failed (run oat products sync): %w", code, err)
		}
		s.copyAck(p)
		return true, nil
	}
	return false, nil
}

// RemoveProduct unregisters a product. Its license copy is left alone.
func (s *Store) RemoveProduct(code string) error {
	if _, ok := s.product(code); !ok {
		return fmt.Errorf("product %s: %w", code, ErrUnknownProduct)
	}
	st := s.st.clone()
	st.Products = slices.DeleteFunc(st.Products, func(p Product) bool { return p.Code == code })
	return s.commit(st)
}

// Copy is the state of one product's license copy.
type Copy struct {
	Code        string `json:"code"`
	SettingsDir string `json:"settings_dir"`
	File        string `json:"file"`
	InSync      bool   `json:"in_sync"`
	Problem     string `json:"problem,omitempty"` // "missing", "stale", "present without a license", or a read error
}

// Copies reports, for every registered product, whether its license copy
// is the installed license (or absent when none is installed).
func (s *Store) Copies() []Copy {
	var want []byte
	if s.st.License != nil {
		want, _ = s.LicenseData()
	}
	out := []Copy{}
	for _, p := range s.st.Products {
		c := Copy{Code: p.Code, SettingsDir: p.SettingsDir, File: filepath.Join(p.SettingsDir, CopyFile)}
		if _, err := settingsDir(p); err != nil {
			c.Problem = err.Error()
			out = append(out, c)
			continue
		}
		have, err := atomicfile.ReadCapped(c.File, signing.MaxFileSize)
		switch {
		case errors.Is(err, fs.ErrNotExist) && want == nil:
			c.InSync = true
		case errors.Is(err, fs.ErrNotExist):
			c.Problem = "missing"
		case err != nil:
			c.Problem = err.Error()
		case want == nil:
			c.Problem = "present without a license"
		case string(have) == string(want):
			c.InSync = true
		default:
			c.Problem = "stale"
		}
		out = append(out, c)
	}
	return out
}

// Sync repairs every product copy that is missing or stale (and removes
// copies left while no license is installed). It returns the copies'
// state afterwards and an error naming the first one it could not repair.
func (s *Store) Sync() ([]Copy, error) {
	var data []byte
	if s.st.License != nil {
		var err error
		if data, err = s.LicenseData(); err != nil {
			return nil, err
		}
	}
	var first error
	for i, c := range s.Copies() {
		if c.InSync {
			continue
		}
		p := s.st.Products[i]
		_, err := settingsDir(p) // checked again right before the change
		switch {
		case err != nil:
		case data == nil:
			if err = atomicfile.Remove(c.File); err != nil {
				err = fmt.Errorf("product %s: %w", c.Code, err)
			}
		default:
			var staged *stagedCopy
			if staged, err = stageCopy(p, data); err == nil {
				if err = staged.finish(); err != nil {
					err = fmt.Errorf("product %s: %w", c.Code, err)
				}
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return s.Copies(), first
}

// stagedCopy is a license copy written and synced beside its final name,
// renamed into place only once the store has committed.
type stagedCopy struct {
	tmp, final string
}

func stageCopy(p Product, data []byte) (*stagedCopy, error) {
	dir, err := settingsDir(p)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(dir, CopyFile)
	f, err := os.CreateTemp(dir, "."+CopyFile+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("product %s: cannot write its license copy in %s: %w", p.Code, p.SettingsDir, unwrapPath(err))
	}
	fail := func(err error) (*stagedCopy, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("product %s: cannot write its license copy in %s: %w", p.Code, p.SettingsDir, unwrapPath(err))
	}
	if err := f.Chmod(CopyMode); err != nil && !isWindows() {
		return fail(err)
	}
	giveGroup(f, dir)
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("product %s: cannot write its license copy in %s: %w", p.Code, p.SettingsDir, unwrapPath(err))
	}
	return &stagedCopy{tmp: f.Name(), final: final}, nil
}

func (c *stagedCopy) abort() {
	if c != nil {
		os.Remove(c.tmp)
	}
}

func (c *stagedCopy) finish() error {
	if c == nil {
		return nil
	}
	if err := os.Rename(c.tmp, c.final); err != nil {
		os.Remove(c.tmp)
		return fmt.Errorf("write %s: %w", c.final, err)
	}
	d, err := os.Open(filepath.Dir(c.final))
	if err == nil {
		if !isWindows() {
			d.Sync()
		}
		d.Close()
	}
	return nil
}

func isWindows() bool { return filepath.Separator == '\\' }

// unwrapPath drops the *PathError wrapper, whose path (a random temp name)
// would only confuse; the caller names the directory.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// licenseName is the store file of a license, named by its cti so that a
// new license never overwrites the installed one before the commit.
func licenseName(id []byte) string { return "license-" + hex.EncodeToString(id) + ".oat" }

// cleanup removes what an interrupted change may have left in the store:
// temp files and license files state.json does not reference.
func (s *Store) cleanup() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		orphan := strings.HasPrefix(name, "license-") && strings.HasSuffix(name, ".oat") &&
			(s.st.License == nil || name != s.st.License.File)
		if orphan || strings.Contains(name, ".tmp-") {
			os.Remove(filepath.Join(s.dir, name))
		}
	}
	for _, p := range s.st.Products {
		if _, err := settingsDir(p); err != nil {
			continue // never remove anything through a swapped directory
		}
		matches, _ := filepath.Glob(filepath.Join(p.SettingsDir, "."+CopyFile+".tmp-*"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// readMarker returns the first-use time recorded in the trial marker, 0 if
// none can be read.
func readMarker(path string) int64 {
	if path == "" {
		return 0
	}
	data, err := atomicfile.ReadCapped(path, 64)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// writeMarker records the first use outside the store. It is best effort:
// without permission to write there (not root, say) the store's own record
// is all there is, which doc/server.md says plainly.
func writeMarker(path string, start int64) {
	if path == "" {
		return
	}
	if old := readMarker(path); old > 0 && old <= start {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	atomicfile.Write(path, []byte(strconv.FormatInt(start, 10)+"\n"), 0o644)
}
