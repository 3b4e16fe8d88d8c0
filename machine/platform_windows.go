//go:build windows

package machine

import (
	"strings"

	"golang.org/x/sys/windows/registry"
)

// platformIdentity reads the Windows equivalents of the Linux files from the
// registry: the MachineGuid that Windows setup creates, the SMBIOS strings
// the firmware reports, the processor identifier, and whether this is a
// server or a workstation edition. Serial numbers are only exposed through
// WMI, which oat does not call; they stay empty, which the tolerant match
// allows for (it compares only what both sides have).
func platformIdentity(id *Identity) {
	if id.MachineID == "" {
		id.MachineID = strings.ToLower(regString(`SOFTWARE\Microsoft\Cryptography`, "MachineGuid"))
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
