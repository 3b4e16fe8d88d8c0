package machine

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTooLittleEvidence means a machine's fingerprint holds too few firmware
// identifiers to bind a license to: a license bound to the machine GUID and
// MAC addresses alone would follow a copied disk to any hardware whose
// firmware identifiers are hidden. Requests below the minimum are refused
// where they are made (oat request) and again at the desk.
var ErrTooLittleEvidence = errors.New("not enough hardware evidence to bind a license to this machine")

// Kinds of machine for the evidence minimum.
const (
	KindPhysical = "physical machine"
	KindVM       = "virtual machine"
	KindCloud    = "cloud VM"
)

// Kind says which evidence minimum applies to fp: a cloud VM, a VM on
// premises, or a physical machine.
func Kind(fp Fingerprint) string {
	switch {
	case fp.Cloud != "":
		return KindCloud
	case fp.Hyper != "":
		return KindVM
	}
	return KindPhysical
}

// CheckEvidence says whether fp holds the minimum evidence for its kind:
//
//   - a physical machine: at least one firmware identifier, the system
//     UUID, the system serial or the baseboard serial;
//   - a VM on premises: the system UUID, which the hypervisor gives each VM
//     (VM serial numbers are often empty or copied with a template);
//   - a cloud VM: the system UUID, which the provider sets per instance.
//
// The kind comes from the fingerprint itself, which the machine reports;
// hiding the DMI strings that make a VM look like one only moves it to the
// physical minimum, which also needs a firmware identifier.
func CheckEvidence(fp Fingerprint) error {
	switch Kind(fp) {
	case KindPhysical:
		if len(fp.UUID) == 0 && len(fp.Serial) == 0 && len(fp.Board) == 0 {
			return fmt.Errorf("%w: a %s needs its system UUID, system serial or board serial, and none was read", ErrTooLittleEvidence, KindPhysical)
		}
	default:
		if len(fp.UUID) == 0 {
			return fmt.Errorf("%w: a %s needs its system UUID, and it was not read", ErrTooLittleEvidence, Kind(fp))
		}
	}
	return nil
}

// CheckEvidence is CheckEvidence on the identity, with the message an
// administrator needs: which sources could not be read, and how to fix it.
func (id *Identity) CheckEvidence() error {
	fp := Fingerprint{Hyper: id.Hyper, Cloud: id.Cloud}
	if id.UUID != "" {
		fp.UUID = []byte{1}
	}
	if id.Serial != "" {
		fp.Serial = []byte{1}
	}
	if id.Board != "" {
		fp.Board = []byte{1}
	}
	err := CheckEvidence(fp)
	if err == nil {
		return nil
	}
	var missing []string
	if id.UUID == "" {
		missing = append(missing, "system UUID ("+id.source("product_uuid")+")")
	}
	if Kind(fp) == KindPhysical {
		if id.Serial == "" {
			missing = append(missing, "system serial ("+id.source("product_serial")+")")
		}
		if id.Board == "" {
			missing = append(missing, "board serial ("+id.source("board_serial")+")")
		}
	}
	fix := "run oat as root"
	if id.OS == "windows" {
		fix = "run oat as Administrator"
	}
	return fmt.Errorf("%w (%s): could not read %s; %s, so that the firmware identifiers can be read",
		ErrTooLittleEvidence, Kind(fp), strings.Join(missing, ", "), fix)
}

// source names where an identifier is read from, for messages.
func (id *Identity) source(dmiFile string) string {
	if id.OS == "windows" {
		return "the SMBIOS table"
	}
	return "sys/class/dmi/id/" + dmiFile
}

// Bound lists the identifiers fp binds to, each with its weight in
// Compare, strongest first: what a license made from fp is held to.
func Bound(fp Fingerprint) []string {
	var out []string
	for _, w := range weights {
		if len(w.field(&fp)) > 0 {
			out = append(out, fmt.Sprintf("%s (%d)", w.name, w.weight))
		}
	}
	return out
}
