// Package machine describes the machine an installation runs on: the
// identifiers named by the activation rules (computer name, BIOS/system
// serial, CPU ID, machine GUID, MAC addresses for appliances), and what the
// license models need (CPU sockets, hypervisor, cloud provider, OS, class).
//
// Identifiers never leave the machine in clear: a Fingerprint holds
// HMAC-SHA-256 digests keyed by a random per-installation salt, truncated to
// 16 bytes, so two installations' files cannot be correlated and the raw
// serial numbers cannot be read back.
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
