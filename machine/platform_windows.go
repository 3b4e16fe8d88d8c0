//go:build windows

package machine

import (
	"net"
	"sort"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// platformIdentity reads the Windows equivalents of the Linux files from the
// registry: the MachineGuid that Windows setup creates, the SMBIOS strings
// the firmware reports, the processor identifier, and whether this is a
// server or a workstation edition. Serial numbers are only exposed through
// WMI, which oat does not call; they stay empty, which the tolerant match
// allows for (it compares only what both sides have). The SMBIOS system UUID
// is the one Windows records as the last hardware configuration, and the
// MAC addresses come from the physical-looking network adapters.
func platformIdentity(id *Identity) {
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
	// ProductType is WinNT on client editions, ServerNT or LanmanNT on servers.
	switch regString(`SYSTEM\CurrentControlSet\Control\ProductOptions`, "ProductType") {
	case "WinNT":
		id.Class = ClassDesktop
	case "ServerNT", "LanmanNT":
		id.Class = ClassServer
	}
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
