package machine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree is a fake system root: relative path → content. A value of "<dir>"
// makes a directory (a network interface's device link, say).
type tree map[string]string

func (tr tree) write(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range tr {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if content == "<dir>" {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func (tr tree) with(kv ...string) tree {
	out := tree{}
	for k, v := range tr {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func cpuinfo(vendor, family, model, stepping string, sockets, coresPerSocket int, hyper bool) string {
	var b strings.Builder
	flags := "fpu vme de pse"
	if hyper {
		flags += " hypervisor"
	}
	n := 0
	for s := 0; s < sockets; s++ {
		for c := 0; c < coresPerSocket; c++ {
			b.WriteString("processor\t: " + itoa(n) + "\nvendor_id\t: " + vendor + "\ncpu family\t: " + family +
				"\nmodel\t\t: " + model + "\nstepping\t: " + stepping + "\nphysical id\t: " + itoa(s) + "\nflags\t\t: " + flags + "\n\n")
			n++
		}
	}
	return b.String()
}

func itoa(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func nic(name, mac string) []string {
	return []string{"sys/class/net/" + name + "/address", mac + "\n", "sys/class/net/" + name + "/device", "<dir>"}
}

// rackServer is a physical two-socket rack server with two NICs, a Docker
// bridge and loopback.
var rackServer = tree{
	"etc/hostname":                        "backup01\n",
	"etc/machine-id":                      "4c4c4544004a3510804bb4c04f4e3432\n",
	"sys/class/dmi/id/product_uuid":       "4C4C4544-004A-3510-804B-B4C04F4E3432\n",
	"sys/class/dmi/id/product_serial":     "4J5KN42\n",
	"sys/class/dmi/id/board_serial":       "..CN7475155B0123.\n",
	"sys/class/dmi/id/sys_vendor":         "Dell Inc.\n",
	"sys/class/dmi/id/product_name":       "PowerEdge R740\n",
	"sys/class/dmi/id/chassis_type":       "23\n",
	"sys/class/dmi/id/bios_vendor":        "Dell Inc.\n",
	"proc/cpuinfo":                        cpuinfo("GenuineIntel", "6", "85", "7", 2, 4, false),
	"sys/class/net/lo/address":            "00:00:00:00:00:00\n",
	"sys/class/net/docker0/address":       "02:42:ac:11:00:01\n",
	"sys/class/net/eno1/address":          "B0:83:FE:11:22:33\n",
	"sys/class/net/eno1/device":           "<dir>",
	"sys/class/net/eno2/address":          "b0:83:fe:11:22:34\n",
	"sys/class/net/eno2/device":           "<dir>",
	"sys/class/net/bad/address":           "00:00:00:00:00:00\n",
	"sys/class/net/bad/device":            "<dir>",
	"sys/class/dmi/id/chassis_asset_tag":  "\n",
	"sys/class/dmi/id/unrelated_leftover": "x",
}

func TestCollectPhysicalServer(t *testing.T) {
	id, err := Collect(rackServer.write(t))
	if err != nil {
		t.Fatal(err)
	}
	if id.Host != "backup01" || id.MachineID != "4c4c4544004a3510804bb4c04f4e3432" || id.UUID != "4c4c4544-004a-3510-804b-b4c04f4e3432" ||
		id.Serial != "4J5KN42" || id.Board != "..CN7475155B0123." || id.CPU != "GenuineIntel-6-85-7" {
		t.Errorf("identifiers: %+v", id)
	}
	if id.Sockets != 2 {
		t.Errorf("sockets = %d, want 2", id.Sockets)
	}
	if want := []string{"b0:83:fe:11:22:33", "b0:83:fe:11:22:34"}; strings.Join(id.MACs, " ") != strings.Join(want, " ") {
		t.Errorf("MACs = %v, want %v (loopback, docker0 and the zero MAC skipped)", id.MACs, want)
	}
	if id.Class != ClassServer || id.Hyper != "" || id.Cloud != "" {
		t.Errorf("class %q hyper %q cloud %q", id.Class, id.Hyper, id.Cloud)
	}
}

func TestClassify(t *testing.T) {
	pc := func(chassis, product string) tree {
		return rackServer.with("sys/class/dmi/id/chassis_type", chassis, "sys/class/dmi/id/product_name", product,
			"proc/cpuinfo", cpuinfo("GenuineIntel", "6", "140", "1", 1, 4, false))
	}
	vm := func(vendor, product, bios, tag string) tree {
		return rackServer.with(
			"sys/class/dmi/id/sys_vendor", vendor, "sys/class/dmi/id/product_name", product,
			"sys/class/dmi/id/bios_vendor", bios, "sys/class/dmi/id/chassis_asset_tag", tag,
			"sys/class/dmi/id/chassis_type", "1", "proc/cpuinfo", cpuinfo("GenuineIntel", "6", "85", "7", 1, 2, true))
	}
	tests := []struct {
		name                string
		tree                tree
		class, hyper, cloud string
	}{
		{"rack server", rackServer, "server", "", ""},
		{"desktop", pc("3", "OptiPlex 7090"), "desktop", "", ""},
		{"laptop", pc("10", "Latitude 7420"), "desktop", "", ""},
		// The class takes more than the chassis type: a server product
		// line or a second CPU socket make a tower a server.
		{"tower server reporting a tower chassis", pc("7", "PowerEdge T440"), "server", "", ""},
		{"two sockets in a desktop chassis", rackServer.with("sys/class/dmi/id/chassis_type", "3", "sys/class/dmi/id/product_name", "Precision 7920 Tower"), "server", "", ""},
		{"blade", rackServer.with("sys/class/dmi/id/chassis_type", "28"), "server", "", ""},
		{"no chassis type", rackServer.with("sys/class/dmi/id/chassis_type", "<delete>"), "server", "", ""},
		{"vmware", vm("VMware, Inc.", "VMware Virtual Platform", "Phoenix Technologies LTD", ""), "server", "vmware", ""},
		{"kvm", vm("QEMU", "Standard PC (Q35 + ICH9, 2009)", "SeaBIOS", ""), "server", "kvm", ""},
		{"hyper-v on premises", vm("Microsoft Corporation", "Virtual Machine", "Microsoft Corporation", "1234-5678"), "server", "hyperv", ""},
		{"hyper-v desktop chassis is still a VM", vm("Microsoft Corporation", "Virtual Machine", "Microsoft Corporation", "").with("sys/class/dmi/id/chassis_type", "3"), "server", "hyperv", ""},
		{"xen", vm("Xen", "HVM domU", "Xen", ""), "server", "xen", ""},
		{"virtualbox", vm("innotek GmbH", "VirtualBox", "innotek GmbH", ""), "server", "virtualbox", ""},
		{"unknown hypervisor", vm("Acme", "Box", "Acme", ""), "server", "other", ""},
		{"aws nitro", vm("Amazon EC2", "m5.large", "Amazon EC2", "Amazon EC2"), "server", "kvm", "aws"},
		{"aws bare metal", rackServer.with("sys/class/dmi/id/sys_vendor", "Amazon EC2", "sys/class/dmi/id/product_name", "m5.metal"), "server", "", "aws"},
		{"aws xen", vm("Xen", "HVM domU", "Xen", "").with("sys/class/dmi/id/product_uuid", "ec2e1916-9099-7caf-fd21-012345abcdef"), "server", "xen", "aws"},
		{"azure", vm("Microsoft Corporation", "Virtual Machine", "Microsoft Corporation", "7783-7084-3265-9085-8269-3286-77"), "server", "hyperv", "azure"},
		{"gcp", vm("Google", "Google Compute Engine", "Google", ""), "server", "kvm", "gcp"},
		{"oci", vm("QEMU", "Standard PC (i440FX + PIIX, 1996)", "SeaBIOS", "OracleCloud.com"), "server", "kvm", "oci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Collect(tt.tree.write(t))
			if err != nil {
				t.Fatal(err)
			}
			if id.Class != tt.class || id.Hyper != tt.hyper || id.Cloud != tt.cloud {
				t.Errorf("got class %q hyper %q cloud %q, want %q %q %q", id.Class, id.Hyper, id.Cloud, tt.class, tt.hyper, tt.cloud)
			}
		})
	}
}

func TestCollectPlaceholdersAndMissing(t *testing.T) {
	tr := rackServer.with("sys/class/dmi/id/product_serial", "To Be Filled By O.E.M.\n",
		"sys/class/dmi/id/board_serial", "Default string", "sys/class/dmi/id/product_uuid", "03000200-0400-0500-0006-000700080009",
		"proc/cpuinfo", "<delete>")
	id, err := Collect(tr.write(t))
	if err != nil {
		t.Fatal(err)
	}
	if id.Serial != "" || id.Board != "" || id.UUID != "" || id.CPU != "" || id.Sockets != 0 {
		t.Errorf("placeholders kept: %+v", id)
	}
}

func TestCollectUnidentified(t *testing.T) {
	root := tree{"etc/hostname": "empty\n", "proc/cpuinfo": cpuinfo("GenuineIntel", "6", "85", "7", 1, 1, false)}.write(t)
	_, err := Collect(root)
	if !errors.Is(err, ErrUnidentified) || !strings.Contains(err.Error(), root) {
		t.Fatalf("got %v, want ErrUnidentified naming %s", err, root)
	}
}

func TestCPUInfoARM(t *testing.T) {
	cpu, sockets, hyper := parseCPUInfo([]byte("processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\nprocessor\t: 1\nCPU implementer\t: 0x41\n"))
	if cpu != "arm-0x41-0xd0c-0x3-1" || sockets != 1 || hyper {
		t.Errorf("got %q %d %v", cpu, sockets, hyper)
	}
}

func mustFP(t *testing.T, tr tree, salt []byte) Fingerprint {
	t.Helper()
	id, err := Collect(tr.write(t))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := id.Fingerprint(salt)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestFingerprintHashing(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	a := mustFP(t, rackServer, salt)
	b := mustFP(t, rackServer, salt)
	if len(a.GUID) != DigestSize || len(a.MACs) != 2 || !bytes.Equal(a.UUID, b.UUID) {
		t.Fatalf("not deterministic or wrong size: %+v", a)
	}
	other := mustFP(t, rackServer, bytes.Repeat([]byte{2}, SaltSize))
	if bytes.Equal(a.UUID, other.UUID) {
		t.Error("the salt does not change the digests")
	}
	// The same value in two fields gives unrelated digests.
	if bytes.Equal(digest(salt, "serial", "X"), digest(salt, "board", "X")) {
		t.Error("fields are not domain-separated")
	}
	for _, d := range [][]byte{a.GUID, a.UUID, a.Serial, a.CPU} {
		if bytes.Contains(d, []byte("4J5KN42")) {
			t.Error("a raw identifier leaked into the fingerprint")
		}
	}
	if _, err := (&Identity{}).Fingerprint([]byte("short")); err == nil {
		t.Error("a short salt was accepted")
	}
	if _, err := Compare(a, other); !errors.Is(err, ErrSalt) {
		t.Errorf("comparing across salts: %v", err)
	}
}

// TestCompare is the matching rule, case by case (S1, B4, A26).
func TestCompare(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, SaltSize)
	otherHW := rackServer.with(
		"sys/class/dmi/id/product_uuid", "4C4C4544-0000-1111-2222-333344445555",
		"sys/class/dmi/id/product_serial", "9ZZZZ99",
		"sys/class/dmi/id/board_serial", "..CN0000000X0000.",
		"sys/class/net/eno1/address", "b0:83:fe:aa:bb:01",
		"sys/class/net/eno2/address", "b0:83:fe:aa:bb:02")
	nonRoot := func(tr tree) tree {
		return tr.with("sys/class/dmi/id/product_uuid", "<delete>", "sys/class/dmi/id/product_serial", "<delete>", "sys/class/dmi/id/board_serial", "<delete>")
	}
	container := tree{"etc/machine-id": "abc123\n"}.with(nic("eth0", "00:16:3e:00:00:01")...)
	tests := []struct {
		name string
		now  tree
		want bool
	}{
		{"same machine", rackServer, true},
		{"one NIC replaced", rackServer.with("sys/class/net/eno2/address", "b0:83:fe:99:99:99"), true},
		{"NIC added", rackServer.with(nic("eno3", "3c:fd:fe:00:00:01")...), true},
		{"all NICs replaced", rackServer.with("sys/class/net/eno1/address", "3c:fd:fe:00:00:01", "sys/class/net/eno2/address", "3c:fd:fe:00:00:02"), true},
		{"disk added (nothing visible changes)", rackServer.with("sys/block/sdb/size", "100"), true},
		{"host renamed", rackServer.with("etc/hostname", "backup02"), true},
		{"CPU upgraded and a NIC replaced", rackServer.with("proc/cpuinfo", cpuinfo("GenuineIntel", "6", "106", "6", 2, 8, false), "sys/class/net/eno1/address", "3c:fd:fe:00:00:09"), true},
		{"OS reinstalled on the same hardware", rackServer.with("etc/machine-id", "ffffffffffffffffffffffffffffffff"), true},
		{"cloned disk on other hardware (B4)", otherHW, false},
		{"cloned disk on other hardware, DMI unreadable", nonRoot(otherHW), false},
		{"recovery onto new hardware, new machine-id (A26)", otherHW.with("etc/machine-id", "0123456789abcdef0123456789abcdef"), false},
		{"main board replaced", rackServer.with("sys/class/dmi/id/product_uuid", "4C4C4544-9999-1111-2222-333344445555", "sys/class/dmi/id/product_serial", "NEW0001", "sys/class/dmi/id/board_serial", "NEWBOARD", "sys/class/net/eno1/address", "b0:83:fe:aa:00:01", "sys/class/net/eno2/address", "b0:83:fe:aa:00:02"), false},
		{"completely different machine", tree{"etc/machine-id": "feedface\n"}.with(nic("eth0", "00:50:56:00:00:01")...), false},
		// Issue 12: a bound identifier that cannot be read counts as
		// differing, so the genuine machine run without root no longer
		// matches (oat says to run as root), and neither does a clone that
		// hides its DMI and its NICs behind the same machine-id.
		{"DMI unreadable now, same machine", nonRoot(rackServer), false},
		{"clone with the same machine-id hiding DMI and NICs", nonRoot(tree{"etc/machine-id": rackServer["etc/machine-id"], "proc/cpuinfo": rackServer["proc/cpuinfo"]}), false},
		{"same machine, NICs hidden (a network namespace)", rackServer.with("sys/class/net/eno1/address", "<delete>", "sys/class/net/eno2/address", "<delete>"), true},
		{"same machine, only the system UUID readable, NICs hidden", nonRoot(rackServer).with("sys/class/dmi/id/product_uuid", rackServer["sys/class/dmi/id/product_uuid"], "sys/class/net/eno1/address", "<delete>", "sys/class/net/eno2/address", "<delete>"), false},
	}
	want := mustFP(t, rackServer, salt)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustFP(t, tt.now, salt)
			m, err := Compare(want, got)
			if err != nil {
				t.Fatal(err)
			}
			if m.OK != tt.want {
				t.Errorf("match = %v, want %v (%s)", m.OK, tt.want, m)
			}
		})
	}

	t.Run("container: GUID and MAC only", func(t *testing.T) {
		a := mustFP(t, container, salt)
		if m, _ := Compare(a, mustFP(t, container, salt)); !m.OK {
			t.Errorf("same container does not match: %s", m)
		}
		if m, _ := Compare(a, mustFP(t, container.with("sys/class/net/eth0/address", "00:16:3e:00:00:02"), salt)); m.OK {
			t.Errorf("its only NIC replaced still matches: %s", m)
		}
	})
	t.Run("nothing in common", func(t *testing.T) {
		m, _ := Compare(Fingerprint{Salt: salt}, Fingerprint{Salt: salt})
		if m.OK || !strings.Contains(m.String(), "no identifier") {
			t.Errorf("empty fingerprints: %v %s", m.OK, m)
		}
	})
}

// TestEvidence is the minimum a request must carry, per kind of machine
// (issue 12): every kind needs a firmware identifier; a VM and a cloud VM
// need their system UUID.
func TestEvidence(t *testing.T) {
	d := []byte{1}
	tests := []struct {
		name string
		fp   Fingerprint
		ok   bool
	}{
		{"physical, everything", Fingerprint{UUID: d, Serial: d, Board: d, GUID: d, MACs: [][]byte{d}}, true},
		{"physical, serial only", Fingerprint{Serial: d}, true},
		{"physical, board serial only", Fingerprint{Board: d}, true},
		{"physical, GUID and MACs only", Fingerprint{GUID: d, MACs: [][]byte{d}, CPU: d}, false},
		{"VM, UUID", Fingerprint{Hyper: "vmware", UUID: d}, true},
		{"VM, serials but no UUID", Fingerprint{Hyper: "vmware", Serial: d, Board: d, GUID: d}, false},
		{"cloud VM, UUID", Fingerprint{Hyper: "kvm", Cloud: "aws", UUID: d}, true},
		{"cloud VM, no UUID", Fingerprint{Hyper: "kvm", Cloud: "aws", GUID: d, MACs: [][]byte{d}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEvidence(tt.fp)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrTooLittleEvidence)) {
				t.Errorf("CheckEvidence = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	id, err := Collect(rackServer.with("sys/class/dmi/id/product_uuid", "<delete>", "sys/class/dmi/id/product_serial", "<delete>", "sys/class/dmi/id/board_serial", "<delete>").write(t))
	if err != nil {
		t.Fatal(err)
	}
	err = id.CheckEvidence()
	if !errors.Is(err, ErrTooLittleEvidence) || !strings.Contains(err.Error(), "sys/class/dmi/id/product_serial") || !strings.Contains(err.Error(), "as root") {
		t.Errorf("identity without DMI: %v", err)
	}
}
