// Package machine describes the machine an installation runs on: the
// identifiers named by the activation rules (computer name, BIOS/system
// serial, CPU ID, machine GUID, MAC addresses for appliances), and what the
// license models need (CPU sockets, hypervisor, cloud provider, OS, class).
//
// Identifiers never leave the machine in clear: a Fingerprint holds
// HMAC-SHA-256 digests keyed by a random per-installation salt, truncated to
// 16 bytes, so two installations' files cannot be correlated and the raw
// serial numbers cannot be read back. Each digest is domain-separated by
// the field's name.
//
// # Collecting
//
// Collect reads, under a root directory (OAT_SYSROOT, "/" by default):
// etc/hostname, etc/machine-id, sys/class/dmi/id/{product_uuid,
// product_serial, board_serial, sys_vendor, product_name, chassis_type,
// chassis_asset_tag, bios_vendor}, proc/cpuinfo (vendor, family, model and
// stepping of the first processor as the CPU ID; distinct "physical id"
// values as the socket count; the "hypervisor" flag) and
// sys/class/net/*/address of interfaces that have a device behind them
// (loopback, bridges, veth and other software interfaces have none).
// Firmware placeholders such as "To Be Filled By O.E.M." count as missing.
// As root, sys/firmware/dmi/tables/DMI (the raw SMBIOS table) fills what
// those files leave empty, through ParseSMBIOS. On Windows the same parser
// reads the table GetSystemFirmwareTable('RSMB') returns (system UUID,
// system and board serials, vendor, product, chassis); the registry gives
// the MachineGuid, the processor identifier and the edition, and adapters
// whose names do not say virtual give the MACs.
//
// # Classifying
//
// The hypervisor comes from the DMI vendor and product strings (VMware,
// VirtualBox, Microsoft "Virtual Machine" = Hyper-V, Xen, QEMU/KVM, Google
// Compute Engine = KVM, Parallels), else from the CPU's hypervisor flag
// ("other"). The cloud provider: "Amazon EC2" vendor or an "ec2" UUID is
// aws; a Microsoft vendor with the chassis asset tag
// 7783-7084-3265-9085-8269-3286-77 is azure; a Google vendor is gcp; an
// "OracleCloud.com" asset tag is oci. The class is "desktop" for a physical
// machine whose SMBIOS chassis type is a desktop, tower, laptop or other
// personal-computer type (3-16, 30-32, 34-36), with one CPU socket, and a
// product name that is not a server line (PowerEdge, ProLiant, PRIMERGY,
// ThinkSystem, ...); "server" otherwise: rack and blade chassis, unknown
// types, two or more sockets, server product lines in tower chassis, and
// every VM (hypervisors report arbitrary chassis types). A Windows server
// edition is a server whatever the hardware.
//
// # Matching
//
// A license is bound to the fingerprint of the machine that requested it.
// Compare is the one evidence policy: every identifier the license is bound
// to takes part with a weight — system UUID 3, system serial 2, board
// serial 2, the set of MAC addresses 2 (it agrees when any address is
// shared), machine GUID 2, CPU ID 1 (a model, not a chip) — and one that
// cannot be read now counts as differing, so hiding an identifier is never
// better than forging it. The machine matches when the agreeing weight is
// more than twice the differing weight and, if the license is bound to a
// firmware identifier (UUID, serials), at least one of those agrees. So:
//
//   - one network card replaced, a disk added, or a VM moved to another
//     host with a newer CPU: still the same machine;
//   - a cloned disk or VM on other hardware (B4, B9): the machine GUID
//     agrees but the UUID, serials and MACs do not: another machine;
//   - the same copy with its DMI files unreadable and its NICs hidden:
//     another machine (what cannot be read counts against it);
//   - a system recovered onto new hardware (A26): another machine, which
//     must be activated again;
//   - the main board replaced: another machine (its UUID, serials and
//     on-board MACs all change).
//
// CheckEvidence sets the minimum a request must carry: a firmware
// identifier for a physical machine, the system UUID for a VM or a cloud
// VM. DMI serials are readable by root only on Linux: run oat as root.
package machine

// Fingerprint is the hashed identity of a machine as it appears in request
// and license files. Empty fields mean the identifier was not available.
type Fingerprint struct {
	Salt    []byte   `cbor:"salt"`              // 16 random bytes, per installation
	GUID    []byte   `cbor:"guid,omitempty"`    // /etc/machine-id, Windows MachineGuid
	UUID    []byte   `cbor:"uuid,omitempty"`    // SMBIOS system UUID (product_uuid)
	Serial  []byte   `cbor:"serial,omitempty"`  // BIOS/system serial number
	Board   []byte   `cbor:"board,omitempty"`   // baseboard serial number
	CPU     []byte   `cbor:"cpu,omitempty"`     // CPU ID: vendor, family, model, stepping
	MACs    [][]byte `cbor:"macs,omitempty"`    // hardware addresses, sorted
	OS      string   `cbor:"os"`                // GOOS: linux, windows, ...
	Class   string   `cbor:"class"`             // "server", "desktop" or "appliance"
	Hyper   string   `cbor:"hv,omitempty"`      // hypervisor if a VM: kvm, vmware, hyperv, xen, ...
	Cloud   string   `cbor:"cloud,omitempty"`   // aws, azure, gcp, oci when a cloud VM
	Sockets uint16   `cbor:"sockets,omitempty"` // physical CPU packages
}
