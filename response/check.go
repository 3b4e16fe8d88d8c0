package response

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/machine"
)

// Reasons a verified license is refused by an installation. Callers branch
// on them with errors.Is; the messages are meant for an administrator.
var (
	ErrOtherInstallation = errors.New("the license is bound to another installation (it answers a request made elsewhere)")
	ErrOtherMachine      = errors.New("this machine no longer matches the one the license was issued for; if the system was recovered or moved to new hardware, run oat request again and activate anew")
	ErrNotPending        = errors.New("the license does not answer this installation's pending request (a replayed or stale license)")
	ErrNotUpdate         = errors.New("the license is an update to an activation, but no license is installed here to update")
	ErrOtherActivation   = errors.New("the license updates another activation than the one installed")
	ErrRollback          = errors.New("the license is older than the installed one (rollback refused)")
	ErrSameSequence      = errors.New("a different license with the same sequence number is already installed")
	ErrNotYetValid       = errors.New("the license is not valid yet")
	ErrExpired           = errors.New("the license has expired")
	ErrModel             = errors.New("the license model does not fit this machine")
	ErrAlreadyInstalled  = errors.New("this license is already installed")
)

// Checks is what a license is held against when an installation installs it.
type Checks struct {
	Installation ed25519.PublicKey   // this installation's public key
	Machine      machine.Fingerprint // this machine now, hashed with the installation's salt
	Pending      []byte              // nonce of the pending request, nil if none
	Installed    *License            // the license installed now, nil if none
	Now          time.Time           // the time to judge validity by: max(clock, high-water mark)
}

// Check decides whether an installation may install l, which Parse has
// already verified against the trusted vendor keys. It returns nil, or
// ErrAlreadyInstalled for the license already installed (a no-op), or an
// error wrapping one of the other reasons above.
//
// The order matters for the messages: binding (installation, request or
// sequence) first, because a license for somewhere else is best described
// as that, then the machine, the validity period and the license models.
func (l *License) Check(c Checks) error {
	key, err := l.Confirm.PublicKey()
	if err != nil {
		return err
	}
	if !bytes.Equal(key, c.Installation) {
		return ErrOtherInstallation
	}
	if c.Installed != nil && bytes.Equal(l.ID, c.Installed.ID) {
		return ErrAlreadyInstalled
	}
	if len(l.Nonce) > 0 {
		// The first license of an activation: it must answer the request
		// this installation is waiting for, exactly once.
		if len(c.Pending) == 0 {
			return fmt.Errorf("%w: this installation has no pending request", ErrNotPending)
		}
		if !bytes.Equal(l.Nonce, c.Pending) {
			return ErrNotPending
		}
	} else {
		// An update (A10, A12, A19) supersedes the installed license of the
		// same activation, only forward (S2).
		if c.Installed == nil {
			return ErrNotUpdate
		}
		if l.Activation != c.Installed.Activation {
			return fmt.Errorf("%w: %q, installed %q", ErrOtherActivation, l.Activation, c.Installed.Activation)
		}
		switch {
		case l.Sequence < c.Installed.Sequence:
			return fmt.Errorf("%w: sequence %d, installed %d", ErrRollback, l.Sequence, c.Installed.Sequence)
		case l.Sequence == c.Installed.Sequence:
			return fmt.Errorf("%w (%d)", ErrSameSequence, l.Sequence)
		}
	}
	m, err := machine.Compare(l.Machine, c.Machine)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrOtherMachine, err)
	}
	if !m.OK {
		return fmt.Errorf("%w (%s)", ErrOtherMachine, m)
	}
	now := c.Now.Unix()
	if now < l.NotBefore {
		return fmt.Errorf("%w: valid from %s", ErrNotYetValid, day(l.NotBefore))
	}
	if l.Expires != 0 && now >= l.Expires {
		return fmt.Errorf("%w on %s", ErrExpired, day(l.Expires))
	}
	if len(l.Products) == 0 {
		return fmt.Errorf("%w: it licenses no product", ErrModel)
	}
	allExpired := true
	for _, e := range l.Products {
		if err := CheckModel(e.Model, c.Machine); err != nil {
			return fmt.Errorf("%s: %w", e.Code, err)
		}
		if e.Active(c.Now) {
			allExpired = false
		}
	}
	if allExpired {
		return fmt.Errorf("%w: every subscription in it ended (last on %s)", ErrExpired, day(l.LastExpiry()))
	}
	return nil
}

// Active reports whether the entitlement is in force at t: perpetual, or a
// subscription that has not ended (B1).
func (e Entitlement) Active(t time.Time) bool {
	return e.Expires == 0 || t.Unix() < e.Expires
}

// LastExpiry is the latest subscription end among the products, 0 if any
// product is perpetual.
func (l *License) LastExpiry() int64 {
	var last int64
	for _, e := range l.Products {
		if e.Expires == 0 {
			return 0
		}
		last = max(last, e.Expires)
	}
	return last
}

// CheckModel says whether a license model may be used on a machine with
// this fingerprint, for the rules a machine can check about itself (B2,
// B16): a Desktop license only on a desktop-class machine, a Linux license
// only on Linux, a Cloud license only on a cloud VM. The other models are
// counted by the desk (seats, VMs, nodes, deployments) and pass here. The
// desk may call it on a request's fingerprint to refuse early.
func CheckModel(model string, fp machine.Fingerprint) error {
	switch strings.ToLower(model) {
	case "desktop":
		if fp.Class != machine.ClassDesktop {
			return fmt.Errorf("%w: a Desktop license is for one PC, and this machine is a %s (%s)", ErrModel, fp.Class, describe(fp))
		}
	case "linux":
		if fp.OS != "linux" {
			return fmt.Errorf("%w: a Linux license only activates on Linux, and this machine runs %s", ErrModel, fp.OS)
		}
	case "cloud":
		if fp.Cloud == "" {
			return fmt.Errorf("%w: a Cloud license is for VMs on AWS, Azure, GCP or OCI, and this machine is not one (on premises needs a Server, Virtual or vPack license, B16)", ErrModel)
		}
	}
	return nil
}

func describe(fp machine.Fingerprint) string {
	parts := []string{fp.OS}
	if fp.Hyper != "" {
		parts = append(parts, "VM on "+fp.Hyper)
	}
	if fp.Cloud != "" {
		parts = append(parts, "in "+fp.Cloud)
	}
	return strings.Join(parts, ", ")
}

func day(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02") }
