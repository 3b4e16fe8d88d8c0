package machine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Identity is what Collect reads about a machine, in clear. It stays in
// memory: only its hashed Fingerprint is ever written to a file.
type Identity struct {
	Host      string   // computer name
	MachineID string   // /etc/machine-id or the Windows MachineGuid
	UUID      string   // SMBIOS system UUID
	Serial    string   // system serial number
	Board     string   // baseboard serial number
	CPU       string   // vendor, family, model, stepping
	MACs      []string // hardware addresses of physical interfaces, lower case, sorted
	Sockets   uint16   // physical CPU packages
	OS        string   // GOOS of the running system
	Class     string   // ClassServer or ClassDesktop
	Hyper     string   // hypervisor when the machine is a VM
	Cloud     string   // cloud provider when the machine is a cloud VM

	// Raw DMI strings the classification was made from.
	Vendor, Product, Chassis, ChassisTag, BIOSVendor string
	HypervisorFlag                                   bool // "hypervisor" CPU flag
}

// Machine classes.
const (
	ClassServer    = "server"
	ClassDesktop   = "desktop"
	ClassAppliance = "appliance"
)

// ErrUnidentified means no stable identifier of the machine could be read.
var ErrUnidentified = errors.New("cannot identify this machine")

// Collect reads the machine's identity under root ("/" for the running
// system; tests and OAT_SYSROOT use a fake tree). Files that are missing or
// unreadable (DMI serials need root on Linux) leave their field empty; it
// fails only when no identifier at all could be read, because a fingerprint
// without one would match any machine.
func Collect(root string) (*Identity, error) {
	if root == "" {
		root = "/"
	}
	id := &Identity{OS: runtime.GOOS}
	rd := func(rel string) string { return readValue(filepath.Join(root, filepath.FromSlash(rel))) }

	id.Host = firstLine(rd("etc/hostname"))
	id.MachineID = strings.ToLower(rd("etc/machine-id"))
	dmi := "sys/class/dmi/id/"
	id.UUID = cleanDMI(strings.ToLower(rd(dmi + "product_uuid")))
	id.Serial = cleanDMI(rd(dmi + "product_serial"))
	id.Board = cleanDMI(rd(dmi + "board_serial"))
	id.Vendor = rd(dmi + "sys_vendor")
	id.Product = rd(dmi + "product_name")
	id.Chassis = rd(dmi + "chassis_type")
	id.ChassisTag = rd(dmi + "chassis_asset_tag")
	id.BIOSVendor = rd(dmi + "bios_vendor")
	// The raw SMBIOS table (root only, like the serial files) fills what
	// the files left empty, through the parser Windows uses too.
	if table, err := readCapped(filepath.Join(root, "sys", "firmware", "dmi", "tables", "DMI"), MaxSMBIOSTable); err == nil && len(table) > 0 {
		ep, _ := readCapped(filepath.Join(root, "sys", "firmware", "dmi", "tables", "smbios_entry_point"), 64)
		major, minor := entryPointVersion(ep)
		if s, err := ParseSMBIOS(table, major, minor); err == nil {
			id.merge(s)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "proc", "cpuinfo")); err == nil {
		id.CPU, id.Sockets, id.HypervisorFlag = parseCPUInfo(data)
	}
	id.MACs = readMACs(filepath.Join(root, "sys", "class", "net"))

	if isSystemRoot(root) {
		if id.Host == "" {
			id.Host, _ = os.Hostname()
		}
		platformIdentity(id)
	}
	if id.OS == "" {
		id.OS = runtime.GOOS
	}
	id.classify()
	if id.MachineID == "" && id.UUID == "" && id.Serial == "" && id.Board == "" && len(id.MACs) == 0 {
		return nil, fmt.Errorf("%w: none of etc/machine-id, sys/class/dmi/id/{product_uuid,product_serial,board_serial} or a network hardware address is readable under %s", ErrUnidentified, root)
	}
	return id, nil
}

func isSystemRoot(root string) bool {
	c := filepath.Clean(root)
	return c == "/" || c == filepath.VolumeName(c)+`\`
}

// readValue returns a small sysfs-style file's content, trimmed; "" if it
// cannot be read.
func readValue(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.Read(buf)
	return strings.TrimSpace(string(buf[:n]))
}

// readCapped reads a whole file of at most max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// cleanDMI drops the placeholders firmware writes where it has no value.
func cleanDMI(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "n/a", "na", "not specified", "not available", "not applicable", "to be filled by o.e.m.",
		"default string", "system serial number", "0", "0123456789", "123456789", "xxxxxxxxxxxx",
		"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "03000200-0400-0500-0006-000700080009":
		return ""
	}
	return strings.TrimSpace(s)
}

// parseCPUInfo reads /proc/cpuinfo: the CPU ID of the first processor, the
// number of distinct physical packages, and whether the hypervisor flag is set.
func parseCPUInfo(data []byte) (cpu string, sockets uint16, hyper bool) {
	first := map[string]string{}
	packages := map[string]bool{}
	processors := 0
	block := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			block++
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			processors++
		case "physical id":
			packages[v] = true
		case "flags", "Features":
			for _, f := range strings.Fields(v) {
				if f == "hypervisor" {
					hyper = true
				}
			}
		}
		if processors <= 1 {
			if _, seen := first[k]; !seen {
				first[k] = v
			}
		}
	}
	switch {
	case first["vendor_id"] != "":
		cpu = strings.Join([]string{first["vendor_id"], first["cpu family"], first["model"], first["stepping"]}, "-")
	case first["CPU implementer"] != "": // arm64
		cpu = strings.Join([]string{"arm", first["CPU implementer"], first["CPU part"], first["CPU variant"], first["CPU revision"]}, "-")
	}
	switch {
	case len(packages) > 0:
		sockets = uint16(min(len(packages), 65535))
	case processors > 0:
		sockets = 1
	}
	return cpu, sockets, hyper
}

// readMACs lists the hardware addresses of physical network interfaces:
// those with a device behind them in sysfs. Software interfaces (loopback,
// bridges, veth, tunnels, containers) have none and change too often to
// identify a machine; all-zero and multicast addresses are skipped too.
func readMACs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if name == "lo" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name, "device")); errors.Is(err, fs.ErrNotExist) || err != nil {
			continue
		}
		mac, err := net.ParseMAC(readValue(filepath.Join(dir, name, "address")))
		if err != nil || len(mac) != 6 || isZero(mac) || mac[0]&1 == 1 {
			continue
		}
		seen[mac.String()] = true
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// classify derives the hypervisor, cloud provider and class from the DMI
// strings and CPU flags; see the package documentation for the rules.
func (id *Identity) classify() {
	vendor := strings.ToLower(id.Vendor)
	product := strings.ToLower(id.Product)
	bios := strings.ToLower(id.BIOSVendor)
	all := vendor + "\n" + product + "\n" + bios

	if id.Hyper == "" {
		switch {
		case strings.Contains(all, "vmware"):
			id.Hyper = "vmware"
		case strings.Contains(all, "virtualbox") || strings.Contains(vendor, "innotek"):
			id.Hyper = "virtualbox"
		case strings.Contains(vendor, "microsoft") && strings.Contains(product, "virtual machine"):
			id.Hyper = "hyperv"
		case strings.Contains(all, "xen") || strings.Contains(product, "hvm domu"):
			id.Hyper = "xen"
		case strings.Contains(all, "qemu") || strings.Contains(product, "kvm") || strings.Contains(all, "google compute engine"):
			id.Hyper = "kvm"
		case strings.Contains(all, "parallels"):
			id.Hyper = "parallels"
		case strings.Contains(all, "amazon ec2") && id.HypervisorFlag:
			id.Hyper = "kvm" // Nitro; bare-metal instances have no hypervisor flag
		case id.HypervisorFlag:
			id.Hyper = "other"
		}
	}

	switch {
	case strings.Contains(all, "amazon ec2") || strings.HasPrefix(id.UUID, "ec2"):
		id.Cloud = "aws"
	case strings.Contains(vendor, "microsoft") && id.ChassisTag == "7783-7084-3265-9085-8269-3286-77":
		id.Cloud = "azure"
	case strings.Contains(vendor, "google") || strings.Contains(product, "google compute engine"):
		id.Cloud = "gcp"
	case strings.Contains(strings.ToLower(id.ChassisTag), "oraclecloud"):
		id.Cloud = "oci"
	}

	if id.Class == "" {
		id.Class = ClassServer
		if id.Hyper == "" && id.Cloud == "" && desktopChassis(id.Chassis) && id.Sockets <= 1 && !serverProduct(vendor, product) {
			id.Class = ClassDesktop
		}
	}
}

// serverProduct recognises server product lines by vendor and model name,
// so that a tower server whose firmware reports a desktop or tower chassis
// type (7) is not taken for a PC.
func serverProduct(vendor, product string) bool {
	for _, p := range []string{"poweredge", "proliant", "primergy", "thinksystem", "system x", "superserver", "ucs ", "ucsc-", "ucsb-", "sparc", "server", "storage"} {
		if strings.Contains(product, p) {
			return true
		}
	}
	return strings.Contains(vendor, "supermicro") && strings.HasPrefix(product, "sys-")
}

// desktopChassis reports whether an SMBIOS chassis type (DMTF DSP0134,
// 7.4.1) is a personal computer: desktop, tower, laptop and kin.
func desktopChassis(s string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return false
	}
	switch n {
	case 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 30, 31, 32, 34, 35, 36:
		return true
	}
	return false
}
