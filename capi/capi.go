//go:build cgo

package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"unsafe"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
)

// Status codes of oat_check.
const (
	statusLicensed    = 0
	statusNotLicensed = 1
	statusUsage       = 2
)

// maxPEM caps the vendor key text read from the caller's memory: a few
// keys are a few hundred bytes.
const maxPEM = 64 << 10

//export oat_check
func oat_check(settingsDir, product, vendorPEM, sysroot *C.char, verdict **C.char) C.int {
	status, v := checkC(settingsDir, product, vendorPEM, sysroot)
	if verdict != nil {
		data, err := json.Marshal(v)
		if err != nil {
			data = []byte(`{"licensed":false,"state":"unlicensed","reason":"cannot encode the verdict"}`)
		}
		*verdict = C.CString(string(data))
	}
	return C.int(status)
}

//export oat_free
func oat_free(verdict *C.char) {
	C.free(unsafe.Pointer(verdict))
}

func checkC(settingsDir, product, vendorPEM, sysroot *C.char) (int, *check.Verdict) {
	usage := func(format string, args ...any) (int, *check.Verdict) {
		return statusUsage, &check.Verdict{State: check.Unlicensed, Warnings: []string{}, Reason: fmt.Sprintf(format, args...)}
	}
	if settingsDir == nil || product == nil || vendorPEM == nil {
		return usage("oat_check: settings_dir, product and vendor_pem must not be NULL")
	}
	pem := C.GoStringN(vendorPEM, C.int(cStrLen(vendorPEM, maxPEM+1)))
	if len(pem) > maxPEM {
		return usage("oat_check: vendor_pem is longer than %d bytes", maxPEM)
	}
	pinned, err := keys.ParsePublicKeys([]byte(pem))
	if err != nil || len(pinned) == 0 {
		return usage("oat_check: vendor_pem: %v", err)
	}
	opts := &check.Options{}
	if sysroot != nil {
		root := C.GoString(sysroot)
		opts.Machine = check.MachineAt(root)
		opts.TrialMarker = filepath.Join(root, "var", "lib", "oat", "trial")
	}
	v, err := check.Check(C.GoString(settingsDir), C.GoString(product), []ed25519.PublicKey(pinned), opts)
	if err != nil {
		return statusNotLicensed, v
	}
	return statusLicensed, v
}

// cStrLen is strlen bounded by max, so that an unterminated buffer is not
// read past max bytes.
func cStrLen(s *C.char, max int) int {
	p := unsafe.Pointer(s)
	for n := 0; n < max; n++ {
		if *(*byte)(unsafe.Add(p, n)) == 0 {
			return n
		}
	}
	return max
}
