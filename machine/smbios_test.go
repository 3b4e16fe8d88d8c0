package machine

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tables in these tests are SYNTHETIC: built here, structure by
// structure, after DMTF DSP0134. No binary SMBIOS dump with a licence that
// allows committing it could be obtained for this change (see
// testdata/smbios/README.md). Where a value is checked against a real
// machine, the expected text comes from a published dmidecode decoding of
// that machine's table, named at the test.

// structure encodes one SMBIOS structure: header, formatted area (after the
// 4-byte header) and string set.
func structure(typ byte, handle uint16, formatted []byte, strs ...string) []byte {
	out := []byte{typ, byte(4 + len(formatted)), byte(handle), byte(handle >> 8)}
	out = append(out, formatted...)
	if len(strs) == 0 {
		return append(out, 0, 0)
	}
	for _, s := range strs {
		out = append(append(out, s...), 0)
	}
	return append(out, 0)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// serverTable is a synthetic two-socket rack server: BIOS, system, board,
// chassis (rack mount, 23), end of table.
func serverTable(uuid []byte) []byte {
	var t []byte
	t = append(t, structure(0, 0, []byte{1, 2, 0, 0, 3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "Dell Inc.", "2.17.1", "11/15/2022")...)
	sys := append([]byte{1, 2, 0, 3}, uuid...)
	sys = append(sys, 6, 0, 0)
	t = append(t, structure(1, 0x100, sys, "Dell Inc.", "PowerEdge R740", "4J5KN42")...)
	t = append(t, structure(2, 0x200, []byte{1, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0}, "Dell Inc.", "0YWR7D", ".4J5KN42.CN7475153B0123.")...)
	t = append(t, structure(3, 0x300, []byte{1, 23, 0, 0, 2, 3, 3, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0}, "Dell Inc.", "ASSET-0042")...)
	return append(t, structure(127, 0x7f00, nil)...)
}

func TestParseSMBIOS(t *testing.T) {
	uuid := mustHex("44454c4c 4a00 1035 804b b4c04f4e3432")
	s, err := ParseSMBIOS(serverTable(uuid), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := SMBIOS{BIOSVendor: "Dell Inc.", Vendor: "Dell Inc.", Product: "PowerEdge R740", Serial: "4J5KN42",
		UUID: "4c4c4544-004a-3510-804b-b4c04f4e3432", BoardSerial: ".4J5KN42.CN7475153B0123.", ChassisType: 23, ChassisTag: "ASSET-0042"}
	if *s != want {
		t.Errorf("got  %+v\nwant %+v", *s, want)
	}
	// Before SMBIOS 2.6 the UUID is read in the order it is stored.
	old, _ := ParseSMBIOS(serverTable(uuid), 2, 4)
	if old.UUID != "44454c4c-4a00-1035-804b-b4c04f4e3432" {
		t.Errorf("2.4 UUID: %s", old.UUID)
	}
	for _, u := range [][]byte{make([]byte, 16), bytes.Repeat([]byte{0xff}, 16)} {
		if s, _ := ParseSMBIOS(serverTable(u), 3, 0); s.UUID != "" {
			t.Errorf("unset UUID %x read as %q", u, s.UUID)
		}
	}
}

// TestSMBIOSUUIDVMware checks the UUID byte order against a real VMware
// VM: u-root's testdata/VMWare.txt (github.com/u-root/u-root,
// cmds/exp/dmidecode/testdata, BSD-3-Clause), the dmidecode decoding of a
// VMware Virtual Platform's table (SMBIOS 2.7), prints the stored bytes in
// the serial number, "VMware-56 4d e2 c3 c3 c0 e1 e2-46 22 55 4d c5 eb 6b
// a1", and the UUID as c3e24d56-c0c3-e2e1-4622-554dc5eb6ba1.
func TestSMBIOSUUIDVMware(t *testing.T) {
	raw := mustHex("56 4d e2 c3 c3 c0 e1 e2 46 22 55 4d c5 eb 6b a1")
	if got := smbiosUUID(raw, 2, 7); got != "c3e24d56-c0c3-e2e1-4622-554dc5eb6ba1" {
		t.Errorf("got %s", got)
	}
}

func TestParseSMBIOSMalformed(t *testing.T) {
	good := serverTable(mustHex("44454c4c4a001035804bb4c04f4e3432"))
	tests := map[string][]byte{
		"length under 4":         {1, 2, 0, 0, 0, 0},
		"length past the end":    {1, 0x40, 0, 0, 0, 0},
		"strings not terminated": good[:len(good)-7],
		"single NUL, no strings": {127, 4, 0, 0, 0},
		"over the cap":           make([]byte, MaxSMBIOSTable+1),
	}
	for name, table := range tests {
		if _, err := ParseSMBIOS(table, 3, 0); !errors.Is(err, ErrSMBIOS) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Every truncation either parses what it holds or fails cleanly.
	for n := range len(good) {
		if _, err := ParseSMBIOS(good[:n], 3, 0); err != nil && !errors.Is(err, ErrSMBIOS) {
			t.Fatalf("first %d bytes: %v", n, err)
		}
	}
}

// TestCollectSMBIOSTable: on Linux, the raw table (root only) fills what
// the sysfs files do not give, through the same parser as Windows.
func TestCollectSMBIOSTable(t *testing.T) {
	tr := rackServer.with("sys/class/dmi/id/product_uuid", "<delete>", "sys/class/dmi/id/product_serial", "<delete>",
		"sys/class/dmi/id/board_serial", "<delete>",
		"sys/firmware/dmi/tables/DMI", string(serverTable(mustHex("44454c4c4a001035804bb4c04f4e3432"))),
		"sys/firmware/dmi/tables/smbios_entry_point", "_SM3_\x00\x18\x03\x02\x00")
	id, err := Collect(tr.write(t))
	if err != nil {
		t.Fatal(err)
	}
	if id.UUID != "4c4c4544-004a-3510-804b-b4c04f4e3432" || id.Serial != "4J5KN42" || id.Board != ".4J5KN42.CN7475153B0123." {
		t.Errorf("from the table: %+v", id)
	}
	if err := id.CheckEvidence(); err != nil {
		t.Errorf("evidence from the table: %v", err)
	}
}

func TestEntryPointVersion(t *testing.T) {
	for ep, want := range map[string][2]int{
		"_SM3_\x00\x18\x03\x02": {3, 2},
		"_SM_\x00\x1f\x02\x07":  {2, 7},
		"":                      {3, 0},
	} {
		if a, b := entryPointVersion([]byte(ep)); a != want[0] || b != want[1] {
			t.Errorf("%q: %d.%d", ep, a, b)
		}
	}
}

// FuzzParseSMBIOS: no table panics; every failure is ErrSMBIOS.
func FuzzParseSMBIOS(f *testing.F) {
	f.Add(serverTable(mustHex("44454c4c4a001035804bb4c04f4e3432")), 3, 2)
	f.Add([]byte{127, 4, 0, 0, 0, 0}, 2, 7)
	f.Fuzz(func(t *testing.T, table []byte, major, minor int) {
		if _, err := ParseSMBIOS(table, major, minor); err != nil && !errors.Is(err, ErrSMBIOS) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func TestParseRSMB(t *testing.T) {
	table := serverTable(mustHex("44454c4c4a001035804bb4c04f4e3432"))
	buf := append([]byte{0, 3, 2, 0, byte(len(table)), byte(len(table) >> 8), 0, 0}, table...)
	s, err := ParseRSMB(buf)
	if err != nil || s.UUID != "4c4c4544-004a-3510-804b-b4c04f4e3432" || s.Serial != "4J5KN42" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range [][]byte{nil, buf[:7], append([]byte{0, 3, 2, 0, 0xff, 0xff, 0, 0}, table...)} {
		if _, err := ParseRSMB(bad); !errors.Is(err, ErrSMBIOS) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

// TestSMBIOSDumps parses the real dumps in testdata/smbios, each with its
// expected values and provenance (see the README there). It skips while
// there are none.
func TestSMBIOSDumps(t *testing.T) {
	bins, _ := filepath.Glob("testdata/smbios/*.bin")
	if len(bins) == 0 {
		t.Skip("no SMBIOS dumps in testdata/smbios (see its README)")
	}
	for _, bin := range bins {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			var want struct {
				Provenance                    string
				Version                       [2]int
				Vendor, Product, Serial, UUID string
				BoardSerial                   string `json:"board_serial"`
				ChassisType                   int    `json:"chassis_type"`
				Class, Hyper, Cloud           string
			}
			data, err := os.ReadFile(strings.TrimSuffix(bin, ".bin") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &want); err != nil || want.Provenance == "" {
				t.Fatalf("expected values: %v (provenance %q)", err, want.Provenance)
			}
			table, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSMBIOS(table, want.Version[0], want.Version[1])
			if err != nil {
				t.Fatal(err)
			}
			if s.Vendor != want.Vendor || s.Product != want.Product || s.Serial != want.Serial || s.UUID != want.UUID ||
				s.BoardSerial != want.BoardSerial || s.ChassisType != want.ChassisType {
				t.Errorf("read %+v", *s)
			}
			id := &Identity{}
			id.merge(s)
			id.classify()
			if id.Class != want.Class || id.Hyper != want.Hyper || id.Cloud != want.Cloud {
				t.Errorf("class %q hyper %q cloud %q", id.Class, id.Hyper, id.Cloud)
			}
		})
	}
}
