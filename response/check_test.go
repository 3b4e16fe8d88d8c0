package response

import (
	"errors"
	"testing"

	"github.com/oat-toolkit/oat/machine"
)

// TestCheckModel is B2/B16 as far as a machine can check itself.
func TestCheckModel(t *testing.T) {
	server := machine.Fingerprint{OS: "linux", Class: machine.ClassServer}
	desktop := machine.Fingerprint{OS: "windows", Class: machine.ClassDesktop}
	winServer := machine.Fingerprint{OS: "windows", Class: machine.ClassServer}
	aws := machine.Fingerprint{OS: "linux", Class: machine.ClassServer, Hyper: "kvm", Cloud: "aws"}
	tests := []struct {
		model string
		fp    machine.Fingerprint
		ok    bool
	}{
		{"server", server, true},
		{"server", desktop, true},
		{"desktop", desktop, true},
		{"desktop", server, false}, // B2: a Desktop license is for one PC
		{"desktop", winServer, false},
		{"linux", server, true},
		{"linux", winServer, false}, // B2: Linux only on Linux
		{"cloud", aws, true},
		{"cloud", server, false}, // B16: a Cloud license is refused on premises
		{"virtual", server, true},
		{"vpack", aws, true},
	}
	for _, tt := range tests {
		err := CheckModel(tt.model, tt.fp)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrModel)) {
			t.Errorf("CheckModel(%s, %s/%s/%s) = %v, want ok=%v", tt.model, tt.fp.OS, tt.fp.Class, tt.fp.Cloud, err, tt.ok)
		}
	}
}
