package store

import (
	"fmt"
	"time"

	"github.com/oat-toolkit/oat/check"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/online"
	"github.com/oat-toolkit/oat/response"
)

// States of an installation, as `oat status` reports them.
const (
	StateUnlicensed = "unlicensed" // no license in force and the trial is over
	StateTrial      = "trial"      // no license in force, within the 30-day trial (A4)
	StateActive     = "active"     // a license is installed, valid, and for this machine
	StateExpired    = "expired"    // the installed license or all its subscriptions ended (B1)
	// An online activation out of touch with its portal (A5): in grace
	// from day 14 to 43 it still works, suspended from day 44 it does not,
	// until contact is made again.
	StateGrace     = "grace"
	StateSuspended = "suspended"
)

// WarnDays is how long before a subscription ends status starts to warn.
const WarnDays = 30

// Status is the state of an installation at a glance; it is also the JSON
// of `oat status --json`.
type Status struct {
	State          string          `json:"state"`
	LicenseSeq     uint64          `json:"license_seq"`
	Activation     string          `json:"activation,omitempty"`
	Issuer         string          `json:"issuer,omitempty"`
	LicenseID      string          `json:"license_id,omitempty"`
	IssuedAt       string          `json:"issued_at,omitempty"`
	LicenseExpires string          `json:"license_expires,omitempty"` // the file's own exp, "never" if none
	Host           string          `json:"host"`
	InstallationID string          `json:"installation_key_id"`
	MachineMatches *bool           `json:"machine_matches,omitempty"` // nil when no license is installed
	MachineCheck   string          `json:"machine_check,omitempty"`
	Machine        MachineSummary  `json:"machine"`
	TrialStarted   string          `json:"trial_started"`
	TrialDaysLeft  int             `json:"trial_days_left"`
	Products       []ProductStatus `json:"products"`
	Copies         []Copy          `json:"copies"`
	CopiesInSync   bool            `json:"copies_in_sync"`
	PendingRequest *PendingSummary `json:"pending_request,omitempty"`
	Online         *OnlineSummary  `json:"online,omitempty"` // only for an online activation
	Warnings       []string        `json:"warnings"`
	Now            string          `json:"now"` // the time status judged by (never behind the high-water mark)
}

// MachineSummary is the non-identifying part of the machine's description.
type MachineSummary struct {
	OS      string `json:"os"`
	Class   string `json:"class"`
	Hyper   string `json:"hypervisor,omitempty"`
	Cloud   string `json:"cloud,omitempty"`
	Sockets uint16 `json:"sockets,omitempty"`
}

// ProductStatus is one product of the installed license, with the verdict
// package check gives it: the same one the product computes from its copy.
type ProductStatus struct {
	Code    string `json:"code"`
	Expires string `json:"expires"` // RFC 3339, or "never" for a perpetual license
	Active  bool   `json:"active"`
	// Renewed: this entitlement ended, and a renewal of the product in
	// the same license goes on (A19).
	Renewed     bool   `json:"renewed,omitempty"`
	DaysLeft    *int   `json:"days_left,omitempty"`
	State       string `json:"state"`            // check.State: licensed, trial, expired, unlicensed
	Licensed    bool   `json:"licensed"`         // the product may run under the license
	Reason      string `json:"reason,omitempty"` // why not, when it may not
	Model       string `json:"model"`
	Seats       uint32 `json:"seats"`
	Units       uint32 `json:"units,omitempty"`
	Order       string `json:"order"`
	Fulfillment string `json:"fulfillment"`
	Pool        string `json:"pool,omitempty"`
}

// OnlineSummary is where an online activation stands on the A5 timeline.
type OnlineSummary struct {
	Portal      string `json:"portal"`
	State       string `json:"state"` // connected, disconnected, grace, suspended
	Licensed    bool   `json:"licensed"`
	LastContact string `json:"last_contact"` // RFC 3339
	Expires     string `json:"expires"`      // the day grace starts: the DATE of the warnings
	Suspends    string `json:"suspends"`     // the day grace ends
	Warning     string `json:"warning,omitempty"`
	LastError   string `json:"last_error,omitempty"` // why the latest attempt failed
}

// PendingSummary says a request is waiting for its license.
type PendingSummary struct {
	Created  string   `json:"created"`
	Order    string   `json:"order"`
	Products []string `json:"products"`
	File     string   `json:"file"`
}

// Status reports the installation's state and records the time seen (the
// high-water mark that keeps expiry honest when the clock is set back).
func (s *Store) Status() (*Status, error) {
	now := s.now
	st := &Status{
		InstallationID: keys.KeyID(s.pub).String(),
		Products:       []ProductStatus{},
		Warnings:       []string{},
		Now:            now.UTC().Format(time.RFC3339),
	}
	id, fp, idErr := s.Fingerprint()
	if idErr == nil {
		st.Host = id.Host
		st.Machine = MachineSummary{OS: fp.OS, Class: fp.Class, Hyper: fp.Hyper, Cloud: fp.Cloud, Sockets: fp.Sockets}
	} else {
		st.Warnings = append(st.Warnings, idErr.Error())
	}

	// Trial: the earlier of the store's record and the marker outside it.
	start := s.st.TrialStart
	if m := readMarker(s.opts.TrialMarker); m > 0 && (start == 0 || m < start) {
		start = m
	}
	writeMarker(s.opts.TrialMarker, start)
	trialEnd := time.Unix(start, 0).Add(TrialDays * 24 * time.Hour)
	st.TrialStarted = time.Unix(start, 0).UTC().Format(time.RFC3339)
	st.TrialDaysLeft = max(0, daysUntil(now, trialEnd))

	if s.st.License != nil {
		l, _, err := s.License()
		if err != nil {
			return nil, err
		}
		st.LicenseSeq = l.Sequence
		st.Activation = l.Activation
		st.Issuer = l.Issuer
		st.LicenseID = fmt.Sprintf("%x", l.ID)
		st.IssuedAt = time.Unix(l.IssuedAt, 0).UTC().Format(time.RFC3339)
		st.LicenseExpires = "never"
		if l.Expires != 0 {
			st.LicenseExpires = time.Unix(l.Expires, 0).UTC().Format(time.RFC3339)
		}
		matches := false
		if idErr == nil {
			m, err := machine.Compare(l.Machine, fp)
			matches = err == nil && m.OK
			if err != nil {
				st.MachineCheck = err.Error()
			} else {
				st.MachineCheck = m.String()
			}
		}
		st.MachineMatches = &matches
		if !matches {
			st.Warnings = append(st.Warnings, response.ErrOtherMachine.Error())
		}
		// An online activation's standing (A5), from the store's record
		// of contact, judged by the product check like everything else.
		var a5 *check.Online
		if t, ok := s.OnlineStatus(); ok {
			o := check.FromTimeline(t)
			a5 = &o
		}
		anyActive, anyLicensed := false, false
		// The latest end of each product's entitlements (0: perpetual): a
		// renewal (A19) adds an entitlement beside the one that ends, and
		// the ending one then warns of nothing.
		latest := map[string]int64{}
		for _, e := range l.Products {
			if v, ok := latest[e.Code]; !ok || (v != 0 && (e.Expires == 0 || e.Expires > v)) {
				latest[e.Code] = e.Expires
			}
		}
		for _, e := range l.Products {
			// The product's own verdict, by the rules the product applies
			// to its copy, so that status and product never disagree.
			v, _ := check.Judge(check.Facts{Product: e.Code, License: l, Machine: id, MachineErr: idErr, Now: now, TrialStart: time.Unix(start, 0), Online: a5})
			anyLicensed = anyLicensed || v.Licensed
			ps := ProductStatus{Code: e.Code, State: string(v.State), Licensed: v.Licensed, Reason: v.Reason,
				Expires: "never", Active: e.Active(now) && matches, Model: e.Model, Seats: e.Seats, Units: e.Units,
				Order: e.Order, Fulfillment: e.Fulfillment, Pool: e.Pool}
			if e.Expires != 0 {
				end := time.Unix(e.Expires, 0)
				ps.Expires = end.UTC().Format(time.RFC3339)
				days := daysUntil(now, end)
				ps.DaysLeft = &days
				renewed := latest[e.Code] == 0 || latest[e.Code] > e.Expires
				ps.Renewed = renewed && !e.Active(now)
				switch {
				case renewed:
				case !e.Active(now):
					st.Warnings = append(st.Warnings, fmt.Sprintf("%s: the subscription ended on %s; renew it to keep using the product", e.Code, end.UTC().Format("2006-01-02")))
				case end.Sub(now) <= WarnDays*24*time.Hour:
					st.Warnings = append(st.Warnings, fmt.Sprintf("%s: the subscription ends on %s (%d days left); renew it in time", e.Code, end.UTC().Format("2006-01-02"), days))
				}
			}
			if ps.Active {
				anyActive = true
			}
			st.Products = append(st.Products, ps)
		}
		fileExpired := l.Expires != 0 && now.Unix() >= l.Expires
		if fileExpired {
			st.Warnings = append(st.Warnings, fmt.Sprintf("the license file expired on %s", time.Unix(l.Expires, 0).UTC().Format("2006-01-02")))
		}
		switch {
		case !matches:
		case a5 != nil && a5.Suspended && anyActive && !fileExpired:
			st.State = StateSuspended // restored as soon as contact is made (A5)
		case anyLicensed:
			st.State = StateActive
		case fileExpired || !anyActive:
			st.State = StateExpired
		}
	}
	if a5, ok := s.OnlineStatus(); ok {
		o := s.st.Online
		st.Online = &OnlineSummary{Portal: o.Portal, State: a5.State.String(), Licensed: a5.Licensed, LastError: o.LastError,
			LastContact: a5.Since.UTC().Format(time.RFC3339), Expires: a5.Expires.UTC().Format(time.RFC3339),
			Suspends: a5.Suspends.UTC().Format(time.RFC3339), Warning: a5.Warning}
		if a5.Warning != "" {
			st.Warnings = append(st.Warnings, a5.Warning)
		}
		if st.State == StateActive && a5.State == online.InGrace {
			st.State = StateGrace
		}
	}
	if st.State == "" {
		if st.TrialDaysLeft > 0 {
			st.State = StateTrial
		} else {
			st.State = StateUnlicensed
			if s.st.License == nil {
				st.Warnings = append(st.Warnings, fmt.Sprintf("the %d-day trial ended on %s; activate with oat request and oat install", TrialDays, trialEnd.UTC().Format("2006-01-02")))
			}
		}
	}

	st.Copies = s.Copies()
	st.CopiesInSync = true
	for _, c := range st.Copies {
		if !c.InSync {
			st.CopiesInSync = false
			st.Warnings = append(st.Warnings, fmt.Sprintf("product %s: license copy in %s is %s; run oat products sync", c.Code, c.SettingsDir, c.Problem))
		}
	}
	if p := s.st.Pending; p != nil {
		st.PendingRequest = &PendingSummary{Created: time.Unix(p.Created, 0).UTC().Format(time.RFC3339), Order: p.Order, Products: p.Products, File: p.File}
	}
	// Record the time seen, so that setting the clock back later does not
	// bring an expired license or trial back to life (S2).
	if now.Unix() > s.st.HighWater {
		if err := s.commit(s.st.clone()); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// daysUntil counts started days: 1 while any part of the last day remains,
// 0 at the end, negative after it.
func daysUntil(now, end time.Time) int {
	d := end.Sub(now)
	if d <= 0 {
		return int(d / (24 * time.Hour))
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}
