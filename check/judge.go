package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/response"
)

// Facts is what a verdict is judged from. Check gathers them from a
// settings directory; `oat status` gathers them from the store.
type Facts struct {
	Product string
	// License is the license, already verified against the pinned keys;
	// nil when none could be read, and then LicenseErr says why (nil
	// LicenseErr with nil License means none is installed).
	License    *response.License
	LicenseErr error
	// Machine is this machine now; nil when it could not be read, and
	// then MachineErr says why.
	Machine    *machine.Identity
	MachineErr error
	// Now is the time to judge by, never earlier than the high-water mark.
	Now time.Time
	// TrialStart is when the trial began; zero when none was recorded.
	TrialStart time.Time
	// Online is the online standing (A5); nil for an offline activation.
	// OnlineErr, when set, is why the standing could not be confirmed.
	Online    *Online
	OnlineErr error
}

// Judge decides the verdict from facts, by the rules in the package
// documentation, in this order: the license, the product's entitlement, the
// machine, the validity period, the license model, the online standing.
// The error is nil exactly when the verdict is licensed.
func Judge(f Facts) (*Verdict, error) {
	v := &Verdict{Product: f.Product, Warnings: []string{}, Now: f.Now.UTC().Format(time.RFC3339)}
	trialEnd := time.Time{}
	if !f.TrialStart.IsZero() {
		trialEnd = f.TrialStart.Add(TrialDays * 24 * time.Hour)
		v.TrialDaysLeft = max(0, daysUntil(f.Now, trialEnd))
	}
	// notLicensed fills in the verdict of a product that may not run:
	// expired when its license ended, else the trial while it lasts.
	notLicensed := func(state State, err error) (*Verdict, error) {
		v.Licensed = false
		v.Reason = err.Error()
		switch {
		case state == Expired:
			v.State = Expired
		case v.TrialDaysLeft > 0:
			v.State = Trial
			v.setExpires(f.Now, trialEnd)
			v.Warnings = append(v.Warnings, fmt.Sprintf("trial: %d days left (ends %s); activate with oat request and oat install", v.TrialDaysLeft, day(trialEnd)))
		default:
			v.State = Unlicensed
			v.Expires, v.DaysLeft = "", nil
			if !trialEnd.IsZero() {
				v.Warnings = append(v.Warnings, fmt.Sprintf("the %d-day trial ended on %s", TrialDays, day(trialEnd)))
			}
		}
		return v, err
	}

	l := f.License
	if l == nil {
		err := f.LicenseErr
		if err == nil {
			err = ErrNoLicense
		}
		return notLicensed(Unlicensed, err)
	}
	v.Activation, v.LicenseSeq = l.Activation, l.Sequence
	// A renewal (A19) adds the product again under its new order beside
	// the entitlement that ends: the product runs under the one that
	// lasts longest (perpetual, 0, longest of all).
	var ent *response.Entitlement
	for i := range l.Products {
		e := &l.Products[i]
		if e.Code != f.Product {
			continue
		}
		if ent == nil || (ent.Expires != 0 && (e.Expires == 0 || e.Expires > ent.Expires)) {
			ent = e
		}
	}
	if ent == nil {
		codes := make([]string, len(l.Products))
		for i, e := range l.Products {
			codes[i] = e.Code
		}
		return notLicensed(Unlicensed, fmt.Errorf("%w %q (it covers %s)", ErrNotCovered, f.Product, strings.Join(codes, ", ")))
	}
	v.Model, v.Seats, v.Units = ent.Model, ent.Seats, ent.Units
	v.Order, v.Fulfillment, v.Pool = ent.Order, ent.Fulfillment, ent.Pool

	// The machine: the license's digests are recomputed from the live
	// machine with the license's salt, and compared by the same policy as
	// oat install's.
	if f.Machine == nil {
		err := f.MachineErr
		if err == nil {
			err = machine.ErrUnidentified
		}
		return notLicensed(Unlicensed, fmt.Errorf("%w: %v", ErrMachine, err))
	}
	fp, err := f.Machine.Fingerprint(l.Machine.Salt)
	if err != nil {
		return notLicensed(Unlicensed, fmt.Errorf("%w (%v)", ErrOtherMachine, err))
	}
	m, err := machine.Compare(l.Machine, fp)
	if err != nil {
		return notLicensed(Unlicensed, fmt.Errorf("%w (%v)", ErrOtherMachine, err))
	}
	v.MachineCheck = m.String()
	if !m.OK {
		return notLicensed(Unlicensed, fmt.Errorf("%w (%s)", ErrOtherMachine, m))
	}

	// The validity period: the file's own, then the product's subscription.
	end := time.Time{}
	if l.Expires != 0 {
		end = time.Unix(l.Expires, 0)
	}
	if ent.Expires != 0 && (end.IsZero() || ent.Expires < end.Unix()) {
		end = time.Unix(ent.Expires, 0)
	}
	v.setExpires(f.Now, end)
	if f.Now.Unix() < l.NotBefore {
		return notLicensed(Unlicensed, fmt.Errorf("%w: valid from %s", ErrNotYetValid, day(time.Unix(l.NotBefore, 0))))
	}
	if !end.IsZero() && f.Now.Unix() >= end.Unix() {
		return notLicensed(Expired, fmt.Errorf("%w on %s; renew it to keep using %s", ErrExpired, day(end), f.Product))
	}
	if err := response.CheckModel(ent.Model, fp); err != nil {
		detail := strings.TrimPrefix(err.Error(), response.ErrModel.Error()+": ")
		return notLicensed(Unlicensed, fmt.Errorf("%w: %s", ErrModel, detail))
	}
	if !end.IsZero() && end.Sub(f.Now) <= WarnDays*24*time.Hour {
		v.Warnings = append(v.Warnings, fmt.Sprintf("the license for %s ends on %s (%d days left); renew it in time", f.Product, day(end), *v.DaysLeft))
	}

	// The online standing (A5), when the activation was made online.
	v.Licensed, v.State = true, Licensed
	if f.OnlineErr != nil {
		return notLicensed(Expired, fmt.Errorf("%w (%v)", ErrSuspended, f.OnlineErr))
	}
	if o := f.Online; o != nil {
		v.Warnings = append(v.Warnings, o.Warnings...)
		if o.Suspended {
			if !o.Ends.IsZero() {
				v.setExpires(f.Now, o.Ends)
			}
			return notLicensed(Expired, ErrSuspended)
		}
		if o.Grace {
			v.State = Grace
			if !o.Ends.IsZero() {
				v.setExpires(f.Now, o.Ends)
			}
		}
	}
	return v, nil
}

// setExpires records end (zero: never) and the days left until it.
func (v *Verdict) setExpires(now, end time.Time) {
	if end.IsZero() {
		v.Expires, v.DaysLeft = "never", nil
		return
	}
	d := daysUntil(now, end)
	v.Expires, v.DaysLeft = end.UTC().Format(time.RFC3339), &d
}

// daysUntil counts started days: 1 while any part of the last day remains,
// 0 at the end, negative after it (as oat status counts them).
func daysUntil(now, end time.Time) int {
	d := end.Sub(now)
	if d <= 0 {
		return int(d / (24 * time.Hour))
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
