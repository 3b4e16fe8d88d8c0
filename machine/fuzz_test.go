package machine

import "testing"

// FuzzParseCPUInfo: /proc/cpuinfo under a fake root is input like any other
// file; odd content must give an answer, never a panic.
func FuzzParseCPUInfo(f *testing.F) {
	f.Add([]byte(cpuinfo("GenuineIntel", "6", "85", "7", 2, 2, true)))
	f.Add([]byte("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"))
	f.Add([]byte("physical id: \n\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sockets, _ := parseCPUInfo(data)
		if sockets > 0 && len(data) == 0 {
			t.Fatal("sockets from nothing")
		}
	})
}
