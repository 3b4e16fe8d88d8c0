package machine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSMBIOSTable caps the structure table Collect accepts; real tables are
// a few kilobytes to a few tens of kilobytes.
const MaxSMBIOSTable = 1 << 20

// ErrSMBIOS means an SMBIOS structure table is malformed.
var ErrSMBIOS = errors.New("malformed SMBIOS table")

// SMBIOS is what oat reads from the firmware's SMBIOS structure table
// (DMTF DSP0134): the same values Linux exposes under sys/class/dmi/id, read
// from the one table Linux (sys/firmware/dmi/tables/DMI, root only) and
// Windows (GetSystemFirmwareTable 'RSMB') both give.
type SMBIOS struct {
	BIOSVendor  string // type 0
	Vendor      string // type 1 manufacturer
	Product     string // type 1 product name
	Serial      string // type 1 serial number
	UUID        string // type 1 UUID, lower case, RFC 4122 text; "" when unset
	BoardSerial string // type 2 serial number
	ChassisType int    // type 3 type, without the lock bit; 0 when absent
	ChassisTag  string // type 3 asset tag
}

// ParseSMBIOS reads the structure table of an SMBIOS major.minor version.
// The version decides the byte order of the UUID's first three fields
// (little-endian from 2.6 on, as dmidecode and Linux read it). Unknown
// structure types are skipped; a structure running past the end is an
// error, never a panic.
func ParseSMBIOS(table []byte, major, minor int) (*SMBIOS, error) {
	if len(table) > MaxSMBIOSTable {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrSMBIOS, len(table), MaxSMBIOSTable)
	}
	s := &SMBIOS{}
	seen := map[byte]bool{}
	for off := 0; off+4 <= len(table); {
		typ, length := table[off], int(table[off+1])
		if length < 4 || off+length > len(table) {
			return nil, fmt.Errorf("%w: structure at offset %d has length %d", ErrSMBIOS, off, length)
		}
		formatted := table[off : off+length]
		// The string set follows the formatted area and ends with two NULs.
		end := off + length
		strs := []string{}
		for {
			if end >= len(table) {
				return nil, fmt.Errorf("%w: the strings of the structure at offset %d are not terminated", ErrSMBIOS, off)
			}
			n := indexNUL(table[end:])
			if n < 0 {
				return nil, fmt.Errorf("%w: the strings of the structure at offset %d are not terminated", ErrSMBIOS, off)
			}
			if n == 0 {
				end++
				if len(strs) == 0 { // an empty string set is two NULs
					if end >= len(table) || table[end] != 0 {
						return nil, fmt.Errorf("%w: the structure at offset %d lacks its double NUL", ErrSMBIOS, off)
					}
					end++
				}
				break
			}
			strs = append(strs, string(table[end:end+n]))
			end += n + 1
		}
		str := func(at int) string {
			if at >= len(formatted) {
				return ""
			}
			i := int(formatted[at])
			if i == 0 || i > len(strs) {
				return ""
			}
			return strings.TrimSpace(strs[i-1])
		}
		// The first structure of a type counts; firmware lists one system.
		if !seen[typ] {
			seen[typ] = true
			switch typ {
			case 0:
				s.BIOSVendor = str(4)
			case 1:
				s.Vendor, s.Product, s.Serial = str(4), str(5), str(7)
				if length >= 0x19 {
					s.UUID = smbiosUUID(formatted[8:24], major, minor)
				}
			case 2:
				s.BoardSerial = str(7)
			case 3:
				if length > 5 {
					s.ChassisType = int(formatted[5] & 0x7f)
				}
				s.ChassisTag = str(8)
			}
		}
		if typ == 127 { // end of table
			break
		}
		off = end
	}
	return s, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// smbiosUUID formats the type 1 UUID as Linux's product_uuid does: all
// zeros (not present) and all ones (not set) give "".
func smbiosUUID(b []byte, major, minor int) string {
	zero, ones := true, true
	for _, c := range b {
		zero = zero && c == 0
		ones = ones && c == 0xff
	}
	if zero || ones {
		return ""
	}
	u := make([]byte, 16)
	copy(u, b)
	if major > 2 || (major == 2 && minor >= 6) {
		binary.BigEndian.PutUint32(u[0:], binary.LittleEndian.Uint32(b[0:]))
		binary.BigEndian.PutUint16(u[4:], binary.LittleEndian.Uint16(b[4:]))
		binary.BigEndian.PutUint16(u[6:], binary.LittleEndian.Uint16(b[6:]))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// entryPointVersion reads the SMBIOS version from a Linux
// sys/firmware/dmi/tables/smbios_entry_point: "_SM3_" (64-bit, version at
// offsets 7 and 8) or "_SM_" (32-bit, at 6 and 7). It assumes 3.0 when it
// cannot tell, the byte order every current firmware uses.
func entryPointVersion(ep []byte) (major, minor int) {
	switch {
	case len(ep) >= 9 && string(ep[:5]) == "_SM3_":
		return int(ep[7]), int(ep[8])
	case len(ep) >= 8 && string(ep[:4]) == "_SM_":
		return int(ep[6]), int(ep[7])
	}
	return 3, 0
}

// merge fills what the sysfs files left empty from the table, and cleans
// firmware placeholders the same way.
func (id *Identity) merge(s *SMBIOS) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&id.UUID, cleanDMI(strings.ToLower(s.UUID)))
	fill(&id.Serial, cleanDMI(s.Serial))
	fill(&id.Board, cleanDMI(s.BoardSerial))
	fill(&id.Vendor, s.Vendor)
	fill(&id.Product, s.Product)
	fill(&id.BIOSVendor, s.BIOSVendor)
	fill(&id.ChassisTag, s.ChassisTag)
	if s.ChassisType != 0 {
		fill(&id.Chassis, strconv.Itoa(s.ChassisType))
	}
}

// ParseRSMB reads the buffer Windows' GetSystemFirmwareTable('RSMB', 0)
// fills: a RawSMBIOSData header (calling method, major and minor version,
// DMI revision, a 32-bit little-endian table length) and the table.
func ParseRSMB(buf []byte) (*SMBIOS, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("%w: the RSMB buffer is %d bytes, shorter than its header", ErrSMBIOS, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf[4:8])
	if uint64(n) > uint64(len(buf)-8) {
		return nil, fmt.Errorf("%w: the RSMB header says %d table bytes, the buffer holds %d", ErrSMBIOS, n, len(buf)-8)
	}
	return ParseSMBIOS(buf[8:8+int(n)], int(buf[1]), int(buf[2]))
}
