package desk

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestIDsTimeOrdered checks what the ledger's indexes rely on: an ID made
// in a later millisecond sorts after an earlier one, as text (activation
// IDs) and as bytes (license IDs), and IDs do not repeat.
func TestIDsTimeOrdered(t *testing.T) {
	seen := map[string]bool{}
	prev, prevCTI := newID("act-"), timeOrdered(16)
	for range 50 {
		time.Sleep(time.Millisecond + 100*time.Microsecond)
		id, cti := newID("act-"), timeOrdered(16)
		if !strings.HasPrefix(id, "act-") || len(id) != len("act-")+20 || strings.ToLower(id) != id {
			t.Fatalf("ID %q: want act- and 20 lower-case characters", id)
		}
		if id <= prev {
			t.Errorf("ID %s made after %s sorts before it", id, prev)
		}
		if len(cti) != 16 || bytes.Compare(cti, prevCTI) <= 0 {
			t.Errorf("license ID %x made after %x sorts before it", cti, prevCTI)
		}
		if seen[id] {
			t.Errorf("ID %s made twice", id)
		}
		seen[id] = true
		prev, prevCTI = id, cti
	}
	for range 1000 {
		id := newID("act-")
		if seen[id] {
			t.Errorf("ID %s made twice", id)
		}
		seen[id] = true
	}
}
