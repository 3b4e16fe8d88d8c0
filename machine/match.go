package machine

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// SaltSize is the length of the per-installation salt.
const SaltSize = 16

// DigestSize is the length of each hashed identifier.
const DigestSize = 16

// NewSalt returns a fresh random per-installation salt.
func NewSalt() ([]byte, error) {
	s := make([]byte, SaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	return s, nil
}

// digest is HMAC-SHA-256(salt, "oat machine v1" 0 field 0 value), truncated.
// The field name separates the domains, so equal strings in two fields (a
// serial copied into the UUID, say) give unrelated digests.
func digest(salt []byte, field, value string) []byte {
	if value == "" {
		return nil
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("oat machine v1\x00"))
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)[:DigestSize]
}

// Fingerprint hashes the identity with salt. The host name is not part of
// it: it is sent in clear beside it (A3) and changes too freely to identify.
func (id *Identity) Fingerprint(salt []byte) (Fingerprint, error) {
	if len(salt) != SaltSize {
		return Fingerprint{}, fmt.Errorf("machine salt is %d bytes, want %d", len(salt), SaltSize)
	}
	fp := Fingerprint{
		Salt:    append([]byte(nil), salt...),
		GUID:    digest(salt, "guid", id.MachineID),
		UUID:    digest(salt, "uuid", id.UUID),
		Serial:  digest(salt, "serial", id.Serial),
		Board:   digest(salt, "board", id.Board),
		CPU:     digest(salt, "cpu", id.CPU),
		OS:      id.OS,
		Class:   id.Class,
		Hyper:   id.Hyper,
		Cloud:   id.Cloud,
		Sockets: id.Sockets,
	}
	for _, mac := range id.MACs {
		fp.MACs = append(fp.MACs, digest(salt, "mac", strings.ToLower(mac)))
	}
	sortDigests(fp.MACs)
	return fp, nil
}

func sortDigests(d [][]byte) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && bytes.Compare(d[j-1], d[j]) > 0; j-- {
			d[j-1], d[j] = d[j], d[j-1]
		}
	}
}

// Identifier weights for Compare. The system UUID is the firmware's own
// unique ID; serials, the MAC set and the machine GUID are each strong but
// can be missing, cloned or replaced; the CPU ID names a model, not a chip,
// so it only tips the balance. Firmware identifiers are the ones the
// customer cannot set from the operating system: on Linux they are
// readable by root only, on Windows they come from the SMBIOS table.
var weights = []struct {
	name     string
	weight   int
	firmware bool // set by the firmware, not by the installed system
	field    func(*Fingerprint) [][]byte
}{
	{"system UUID", 3, true, func(f *Fingerprint) [][]byte { return one(f.UUID) }},
	{"system serial", 2, true, func(f *Fingerprint) [][]byte { return one(f.Serial) }},
	{"board serial", 2, true, func(f *Fingerprint) [][]byte { return one(f.Board) }},
	{"network addresses", 2, false, func(f *Fingerprint) [][]byte { return f.MACs }},
	{"machine GUID", 2, false, func(f *Fingerprint) [][]byte { return one(f.GUID) }},
	{"CPU ID", 1, false, func(f *Fingerprint) [][]byte { return one(f.CPU) }},
}

func one(d []byte) [][]byte {
	if len(d) == 0 {
		return nil
	}
	return [][]byte{d}
}

// Match is the outcome of comparing two fingerprints.
type Match struct {
	OK     bool
	Agree  []string // bound identifiers read now and equal
	Differ []string // bound identifiers read now and different
	Unread []string // bound identifiers that could not be read now: they count as differing
	// NoFirmware is set when the license is bound to a firmware identifier
	// (system UUID or a serial) and none of them agrees now.
	NoFirmware bool

	outvoted bool // the weights alone would match: the firmware rule decided
}

func (m Match) String() string {
	if m.OK {
		s := "matches (" + strings.Join(m.Agree, ", ") + ")"
		if len(m.Differ) > 0 {
			s += "; changed: " + strings.Join(m.Differ, ", ")
		}
		if len(m.Unread) > 0 {
			s += "; not read now: " + strings.Join(m.Unread, ", ")
		}
		return s
	}
	if len(m.Agree)+len(m.Differ)+len(m.Unread) == 0 {
		return "no identifier in common to compare"
	}
	var parts []string
	if len(m.Differ) > 0 {
		parts = append(parts, "differs: "+strings.Join(m.Differ, ", "))
	}
	if len(m.Unread) > 0 {
		parts = append(parts, "not readable now, counted as differing: "+strings.Join(m.Unread, ", ")+" (run as root, or Administrator on Windows)")
	}
	if len(m.Agree) > 0 {
		parts = append(parts, "same: "+strings.Join(m.Agree, ", "))
	}
	if m.NoFirmware && m.outvoted {
		parts = append(parts, "no firmware identifier agrees")
	}
	return strings.Join(parts, "; ")
}

// ErrSalt means two fingerprints were hashed with different salts, so they
// come from different installations and cannot be compared.
var ErrSalt = errors.New("fingerprints were made by different installations (salts differ)")

// Compare decides whether got (the machine now) is the machine want (the
// one a license is bound to) was made from. It is the one evidence policy
// of oat: the store, the desk and products checking their license all call
// it. Every identifier the license is bound to (present in want) takes
// part: it agrees, differs, or could not be read now, and an identifier
// that cannot be read counts as differing, so hiding an identifier is
// never better than forging it. The machine matches when the agreeing
// weight is more than twice the differing weight and, if want holds a
// firmware identifier (system UUID, system serial, board serial), at least
// one of those agrees. Identifiers present only in got are ignored: the
// license was not bound to them.
func Compare(want, got Fingerprint) (Match, error) {
	if !hmac.Equal(want.Salt, got.Salt) || len(want.Salt) != SaltSize {
		return Match{}, ErrSalt
	}
	var m Match
	agree, differ := 0, 0
	fwBound, fwAgreed := false, false
	for _, w := range weights {
		a, b := w.field(&want), w.field(&got)
		if len(a) == 0 {
			continue
		}
		if w.firmware {
			fwBound = true
		}
		switch {
		case len(b) == 0:
			differ += w.weight
			m.Unread = append(m.Unread, w.name)
		case overlap(a, b):
			agree += w.weight
			m.Agree = append(m.Agree, w.name)
			if w.firmware {
				fwAgreed = true
			}
		default:
			differ += w.weight
			m.Differ = append(m.Differ, w.name)
		}
	}
	m.NoFirmware = fwBound && !fwAgreed
	vote := agree > 0 && agree > 2*differ
	m.OK = vote && !m.NoFirmware
	m.outvoted = vote && m.NoFirmware
	return m, nil
}

// Sparser lists the identifiers want holds and got lacks: a fingerprint
// that is sparser than the one on record is weaker evidence, and the desk
// never replaces a stored fingerprint with it.
func Sparser(want, got Fingerprint) []string {
	var out []string
	for _, w := range weights {
		if len(w.field(&want)) > 0 && len(w.field(&got)) == 0 {
			out = append(out, w.name)
		}
	}
	return out
}

// overlap reports whether two digest sets share one: for the MAC set,
// replacing or adding a network card keeps the others.
func overlap(a, b [][]byte) bool {
	for _, x := range a {
		for _, y := range b {
			if hmac.Equal(x, y) {
				return true
			}
		}
	}
	return false
}
