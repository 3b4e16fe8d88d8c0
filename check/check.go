// Package check is the license check a product embeds: given its settings
// directory, its product code and the vendor public keys it pins, it says
// whether the product may run, and why not when it may not.
//
// `oat install` copies the installed license into every registered
// product's settings directory as oat-license.oat. Check reads that copy
// and holds it against everything a product can check by itself, without
// the store and without a passphrase:
//
//   - the vendor's signature, with the keys the product pins (compiled into
//     the product, never read from the store's trust.pem);
//   - that the license covers the product code;
//   - that this machine is the one the license was issued for, recomputing
//     the license's salted digests from the live machine and comparing them
//     with machine.Compare, the policy `oat install` applies;
//   - the license model where a machine can tell (a Desktop license on a
//     PC, Linux on Linux, Cloud in a cloud);
//   - the validity period, against a clock that never runs backwards: the
//     latest time seen is kept in the settings directory (ClockFile), so
//     setting the clock back does not bring an expired license back. If the
//     directory cannot be written the check still answers, from the time it
//     could read, and says so in the verdict (ClockReadOnly);
//   - the online standing, when the product activated online and a hook
//     reports it (Options.Online, rule A5).
//
// Without a license in force the verdict reports the 30-day trial (A4) from
// the marker `oat init` writes outside the store (/var/lib/oat/trial, or
// %ProgramData%\oat\trial on Windows). The check only reads the marker: the
// trial starts with `oat init`, not with the first run of a product.
//
// The machine is read by Options.Machine, the running system by default.
// The package never reads environment variables: the oat command passes
// MachineAt(OAT_SYSROOT) itself, and tests pass a fake machine.
//
// Check returns a Verdict in every case, and an error, wrapping one of the
// sentinel errors below, exactly when the product is not licensed. `oat
// status` computes its per-product states with Judge, the same rules, so
// the server and the product never disagree.
package check

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// File names in a product's settings directory.
const (
	// LicenseFile is the license copy `oat install` writes (store.CopyFile).
	LicenseFile = "oat-license.oat"
	// ClockFile keeps the latest time a check has seen in this directory,
	// as decimal Unix seconds: the clock's high-water mark.
	ClockFile = "oat-clock"
)

// TrialDays is the length of the trial of an unactivated product (A4).
const TrialDays = 30

// WarnDays is how long before a subscription ends the verdict warns.
const WarnDays = 30

// State is where a product stands.
type State string

// The states of a verdict.
const (
	Licensed   State = "licensed"   // a license covers the product on this machine, now
	Grace      State = "grace"      // licensed, but an online activation is in its grace period (A5): see the warnings
	Trial      State = "trial"      // not licensed, within the 30-day trial (A4)
	Expired    State = "expired"    // the license (or the product's subscription, or an online grace period) has ended
	Unlicensed State = "unlicensed" // not licensed and the trial is over, or never started
)

// Reasons a product is not licensed. The error Check returns wraps exactly
// one of them; products branch with errors.Is. The messages are meant for
// an administrator.
var (
	ErrNoLicense    = errors.New("no license is installed for this product (activate with oat request and oat install)")
	ErrUnreadable   = errors.New("the license cannot be read")
	ErrDamaged      = errors.New("the license file is damaged or is not a license")
	ErrUntrusted    = errors.New("the license is not signed by a vendor key this product trusts")
	ErrNotCovered   = errors.New("the license does not cover this product")
	ErrMachine      = errors.New("this machine cannot be identified, so the license cannot be checked against it")
	ErrOtherMachine = errors.New("this machine is not the one the license was issued for; if the system was recovered, cloned or moved to new hardware, run oat request again and activate anew")
	ErrModel        = errors.New("the license model does not fit this machine")
	ErrNotYetValid  = errors.New("the license is not valid yet")
	ErrExpired      = errors.New("the license has expired")
	ErrSuspended    = errors.New("the online license is suspended: the grace period without contact with the license server has ended")
)

// Verdict is the answer of a check. It is also the JSON of `oat check
// --json` and of the C ABI; the field names are a stable schema
// (doc/product.md).
type Verdict struct {
	Licensed bool   `json:"licensed"`
	State    State  `json:"state"`
	Product  string `json:"product"`
	// Expires is when the state ends: the end of the license or of the
	// product's subscription ("never" for a perpetual license), the end of
	// the trial, or the date it expired; RFC 3339, or "" when unknown.
	Expires string `json:"expires"`
	// DaysLeft counts started days until Expires (0 or less once passed);
	// null when Expires is "never" or "".
	DaysLeft *int     `json:"days_left"`
	Warnings []string `json:"warnings"`
	// Reason says why the product is not licensed; "" when it is.
	Reason string `json:"reason"`

	// From the license's entitlement for the product, when it has one.
	Model       string `json:"model,omitempty"`
	Seats       uint32 `json:"seats,omitempty"`
	Units       uint32 `json:"units,omitempty"`
	Order       string `json:"order,omitempty"`
	Fulfillment string `json:"fulfillment,omitempty"`
	Pool        string `json:"pool,omitempty"`
	// About the license file, when one was read and verified.
	Activation string `json:"activation,omitempty"`
	LicenseSeq uint64 `json:"license_seq,omitempty"`
	// MachineCheck says what the machine comparison found.
	MachineCheck string `json:"machine_check,omitempty"`

	// TrialDaysLeft is what remains of the trial, 0 when over or never
	// started; it is reported whatever the state.
	TrialDaysLeft int `json:"trial_days_left"`
	// ClockReadOnly means the clock's high-water mark could not be
	// recorded in the settings directory: the check judged by the time it
	// could read, but setting the clock back is not caught from now on.
	ClockReadOnly bool `json:"clock_read_only"`
	// Now is the time judged by: never earlier than the high-water mark.
	Now string `json:"now"`
}

// Options says where a check finds the world around it. The zero value
// checks the running system with its own clock.
type Options struct {
	// Machine reads this machine's identity; nil reads the running system.
	// MachineAt gives one that reads under another system root.
	Machine func() (*machine.Identity, error)
	// TrialMarker is the trial marker oat init writes; "" is the system's
	// (/var/lib/oat/trial, on Windows %ProgramData%\oat\trial).
	TrialMarker string
	// Now is the wall clock; nil is time.Now.
	Now func() time.Time
	// Online, when set, reports the online standing of an online
	// activation (rule A5) for the license in the settings directory. Nil
	// means offline activation, which needs no contact.
	Online OnlineFunc
}

// MachineAt returns a machine source that reads the identity under root
// (OAT_SYSROOT; "/" is the running system).
func MachineAt(root string) func() (*machine.Identity, error) {
	return func() (*machine.Identity, error) { return machine.Collect(root) }
}

// OnlineFunc reports the standing of an online activation for license l,
// installed in the settings directory dir, at now (never earlier than the
// directory's high-water mark). It is the hook for online activation: the
// installer keeps a vendor-signed record of the last contact with the
// license server next to the license, and the function reads and verifies
// it. An error makes the verdict not licensed, with the error as reason.
type OnlineFunc func(dir string, l *response.License, now time.Time) (Online, error)

// Online is the standing of an online activation (rule A5).
type Online struct {
	Grace     bool      // disconnected too long: licensed, in grace
	Suspended bool      // the grace period is over: not licensed until the connection is back
	Ends      time.Time // when grace ends (or ended), if known
	Warnings  []string  // escalating messages for the user
}

// Check checks the license copy in the settings directory dir for the
// product code, with the vendor keys the product pins. It returns the
// verdict, and a non-nil error wrapping one of the package's sentinel
// errors exactly when the product is not licensed (the error's text is the
// verdict's Reason). It never panics and never blocks on a special file.
func Check(dir, product string, pinned []ed25519.PublicKey, opts *Options) (*Verdict, error) {
	if opts == nil {
		opts = &Options{}
	}
	clk := readClock(dir, opts.Now)
	marker := opts.TrialMarker
	if marker == "" {
		marker = defaultTrialMarker()
	}
	f := Facts{Product: product, Now: clk.now, TrialStart: readTrialMarker(marker)}

	path := filepath.Join(dir, LicenseFile)
	data, err := readFile(path, signing.MaxFileSize)
	if err == nil {
		f.License, err = response.Parse(data, keys.NewTrustSet(pinned...))
		if err != nil {
			err = fileError(path, err)
		}
	}
	if err != nil {
		f.LicenseErr = err
	} else if opts.Online != nil {
		o, oerr := opts.Online(dir, f.License, f.Now)
		f.Online, f.OnlineErr = &o, oerr
	}
	if f.License != nil {
		src := opts.Machine
		if src == nil {
			src = MachineAt("/")
		}
		f.Machine, f.MachineErr = src()
	}
	v, verr := Judge(f)
	if clk.readOnly {
		v.ClockReadOnly = true
		v.Warnings = append(v.Warnings, clk.warning)
	}
	return v, verr
}

// fileError turns a verification failure into the sentinel a product
// branches on, keeping the detail.
func fileError(path string, err error) error {
	if errors.Is(err, signing.ErrSignature) || errors.Is(err, keys.ErrUntrusted) {
		return fmt.Errorf("%s: %w (%v)", path, ErrUntrusted, err)
	}
	return fmt.Errorf("%s: %w (%v)", path, ErrDamaged, err)
}
