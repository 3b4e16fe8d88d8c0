//go:build windows

package machine

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// platformIdentity reads the Windows equivalents of the Linux files. The
// firmware identifiers come from the raw SMBIOS table that
// GetSystemFirmwareTable('RSMB') returns (no WMI, no cgo), through the same
// parser as the Linux table: system UUID, system and board serials,
// vendor, product, chassis type and asset tag. The MachineGuid that Windows
// setup creates comes from the registry, as do the processor identifier and
// whether this is a server or a workstation edition. The registry's
// HardwareConfig LastConfig UUID, which an administrator can edit, is used
// only when the firmware table cannot be read.
func platformIdentity(id *Identity) {
	if s, err := firmwareSMBIOS(); err == nil {
		id.merge(s)
	}
	if id.MachineID == "" {
		id.MachineID = strings.ToLower(regString(`SOFTWARE\Microsoft\Cryptography`, "MachineGuid"))
	}
	if id.UUID == "" {
		last := strings.Trim(regString(`SYSTEM\HardwareConfig`, "LastConfig"), "{}")
		id.UUID = cleanDMI(strings.ToLower(last))
	}
	if len(id.MACs) == 0 {
		id.MACs = windowsMACs()
	}
	const bios = `HARDWARE\DESCRIPTION\System\BIOS`
	if id.Vendor == "" {
		id.Vendor = regString(bios, "SystemManufacturer")
	}
	if id.Product == "" {
		id.Product = regString(bios, "SystemProductName")
	}
	if id.BIOSVendor == "" {
		id.BIOSVendor = regString(bios, "BIOSVendor")
	}
	if id.CPU == "" {
		const cpu = `HARDWARE\DESCRIPTION\System\CentralProcessor\0`
		if ident := regString(cpu, "Identifier"); ident != "" {
			id.CPU = regString(cpu, "VendorIdentifier") + "-" + ident
		}
	}
	// ProductType is WinNT on client editions, ServerNT or LanmanNT on
	// servers. A server edition is a server; a client edition is classified
	// like any machine (chassis type, product line, sockets), so that a
	// client edition on a rack server stays a server.
	switch regString(`SYSTEM\CurrentControlSet\Control\ProductOptions`, "ProductType") {
	case "ServerNT", "LanmanNT":
		id.Class = ClassServer
	}
}

var getSystemFirmwareTable = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetSystemFirmwareTable")

// firmwareSMBIOS reads and parses the raw SMBIOS table: the first call
// asks for the size, the second fills the buffer.
func firmwareSMBIOS() (*SMBIOS, error) {
	const rsmb = 'R'<<24 | 'S'<<16 | 'M'<<8 | 'B'
	if err := getSystemFirmwareTable.Find(); err != nil {
		return nil, err
	}
	n, _, err := getSystemFirmwareTable.Call(rsmb, 0, 0, 0)
	if n == 0 {
		return nil, fmt.Errorf("GetSystemFirmwareTable: %w", err)
	}
	if n > MaxSMBIOSTable+8 {
		return nil, fmt.Errorf("%w: the firmware table is %d bytes", ErrSMBIOS, n)
	}
	buf := make([]byte, n)
	got, _, err := getSystemFirmwareTable.Call(rsmb, 0, uintptr(unsafe.Pointer(&buf[0])), n)
	if got == 0 || got > n {
		return nil, fmt.Errorf("GetSystemFirmwareTable: %w", err)
	}
	return ParseRSMB(buf[:got])
}

func regString(path, name string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	s, _, err := k.GetStringValue(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// windowsMACs lists the hardware addresses of adapters that look physical:
// Windows has no sysfs device link, so virtual switches, VPN, loopback and
// tunnel adapters are recognised by name.
func windowsMACs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, i := range ifs {
		name := strings.ToLower(i.Name)
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) != 6 || isZero(i.HardwareAddr) || i.HardwareAddr[0]&1 == 1 {
			continue
		}
		virtual := false
		for _, w := range []string{"vethernet", "virtual", "vmware", "virtualbox", "hyper-v", "loopback", "bluetooth", "teredo", "isatap", "vpn", "tap-", "wan miniport"} {
			if strings.Contains(name, w) {
				virtual = true
			}
		}
		if !virtual {
			seen[i.HardwareAddr.String()] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
