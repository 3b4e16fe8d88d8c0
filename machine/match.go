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
// so it only tips the balance.
var weights = []struct {
	name     string
	weight   int
	hardware bool // unique to the hardware, not to the installed system
	field    func(*Fingerprint) [][]byte
}{
	{"system UUID", 3, true, func(f *Fingerprint) [][]byte { return one(f.UUID) }},
	{"system serial", 2, true, func(f *Fingerprint) [][]byte { return one(f.Serial) }},
	{"board serial", 2, true, func(f *Fingerprint) [][]byte { return one(f.Board) }},
	{"network addresses", 2, true, func(f *Fingerprint) [][]byte { return f.MACs }},
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
	Agree  []string // identifiers present on both sides and equal
	Differ []string // identifiers present on both sides and different
}

func (m Match) String() string {
	if m.OK {
		return "matches (" + strings.Join(m.Agree, ", ") + ")"
	}
	if len(m.Agree)+len(m.Differ) == 0 {
		return "no identifier in common to compare"
	}
	s := "differs: " + strings.Join(m.Differ, ", ")
	if len(m.Agree) > 0 {
		s += "; same: " + strings.Join(m.Agree, ", ")
	}
	return s
}

// ErrSalt means two fingerprints were hashed with different salts, so they
// come from different installations and cannot be compared.
var ErrSalt = errors.New("fingerprints were made by different installations (salts differ)")

// Compare decides whether got (the machine now) is the machine want (the
// one a license is bound to) was made from, by the rule in the package
// documentation: identifiers read on both sides vote with their weights;
// the agreeing weight must exceed twice the differing weight, and at least
// one identifier unique to the hardware must agree when any was compared.
func Compare(want, got Fingerprint) (Match, error) {
	if !hmac.Equal(want.Salt, got.Salt) || len(want.Salt) != SaltSize {
		return Match{}, ErrSalt
	}
	var m Match
	agree, differ := 0, 0
	hwCompared, hwAgreed := false, false
	for _, w := range weights {
		a, b := w.field(&want), w.field(&got)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		same := overlap(a, b)
		if w.hardware {
			hwCompared = true
		}
		if same {
			agree += w.weight
			m.Agree = append(m.Agree, w.name)
			if w.hardware {
				hwAgreed = true
			}
		} else {
			differ += w.weight
			m.Differ = append(m.Differ, w.name)
		}
	}
	m.OK = agree > 0 && agree > 2*differ && (hwAgreed || !hwCompared)
	return m, nil
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
