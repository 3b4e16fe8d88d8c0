package check_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// vendorPEM stands for the vendor key a product compiles in, for example
// with //go:embed vendor.pub.
var vendorPEM []byte

func Example() {
	settingsDir, cleanup := exampleInstall() // what oat install leaves in a product's settings directory
	defer cleanup()

	pinned, err := keys.ParsePublicKeys(vendorPEM)
	if err != nil {
		panic(err)
	}
	// A product passes nil options to check the running system; this
	// example plays a machine and a day so that its output is fixed.
	opts := &check.Options{
		Machine:     func() (*machine.Identity, error) { return rack(), nil },
		Now:         func() time.Time { return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) },
		TrialMarker: filepath.Join(settingsDir, "no-trial"),
	}
	v, err := check.Check(settingsDir, "backup-server", pinned, opts)
	fmt.Println(v.State, v.Model, v.Expires, err)

	v, err = check.Check(settingsDir, "backup-virtual", pinned, opts)
	switch {
	case errors.Is(err, check.ErrNotCovered):
		fmt.Println(v.State, "-", err)
	case err != nil:
		fmt.Println("not licensed:", err)
	}
	// Output:
	// licensed server never <nil>
	// unlicensed - the license does not cover this product "backup-virtual" (it covers backup-server)
}

// exampleInstall issues a license for rack() and writes it as oat install
// would, returning the settings directory.
func exampleInstall() (string, func()) {
	pub, vendor, _ := ed25519.GenerateKey(rand.Reader)
	vendorPEM = keys.MarshalPublicKey(pub)
	dir, err := os.MkdirTemp("", "oat-example-")
	if err != nil {
		panic(err)
	}
	salt, _ := machine.NewSalt()
	fp, _ := rack().Fingerprint(salt)
	inst, _, _ := ed25519.GenerateKey(rand.Reader)
	data, err := response.Seal(response.License{Issuer: "desk", Activation: "act-1", NotBefore: t0.Unix(), IssuedAt: t0.Unix(),
		ID: []byte("0123456789abcdef"), Confirm: signing.NewConfirmation(inst), Sequence: 1, Host: "backup01", Machine: fp,
		Products: []response.Entitlement{{Code: "backup-server", Order: "O-1", Fulfillment: "FN-1", Model: "server", Seats: 1}}}, vendor)
	if err != nil {
		panic(err)
	}
	os.WriteFile(filepath.Join(dir, check.LicenseFile), data, 0o644)
	return dir, func() { os.RemoveAll(dir) }
}
