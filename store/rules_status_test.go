package store

import (
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/response"
)

// TestRuleA19_RenewedSubscriptionStopsWarning: once the renewal's
// entitlement is installed beside the one that ended, the status no
// longer tells the admin to renew.
func TestRuleA19_RenewedSubscriptionStopsWarning(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	end := t0.Add(30 * 24 * time.Hour)
	lic := f.license(r, 1, true, func(l *response.License) {
		l.Products = l.Products[:1]
		l.Products[0].Expires = end.Unix()
	})
	if _, err := f.install(lic); err != nil {
		t.Fatal(err)
	}
	f.clock = end.Add(24 * time.Hour)
	if st := f.status(); !strings.Contains(strings.Join(st.Warnings, "\n"), "renew it") {
		t.Fatalf("no renewal warning after the end: %v", st.Warnings)
	}
	renewal := f.license(r, 2, false, func(l *response.License) {
		l.Products = append(l.Products[:1], response.Entitlement{Code: "backup-server", Order: "O-2", Fulfillment: "FN-2",
			Model: "server", Seats: 1, Expires: end.Add(365 * 24 * time.Hour).Unix()})
		l.Products[0].Expires = end.Unix()
	})
	if _, err := f.install(renewal); err != nil {
		t.Fatal(err)
	}
	st := f.status()
	if st.State != StateActive {
		t.Fatalf("renewed: %s", st.State)
	}
	if w := strings.Join(st.Warnings, "\n"); strings.Contains(w, "renew") {
		t.Errorf("the renewal is installed, yet: %s", w)
	}
	if !st.Products[0].Renewed || st.Products[0].Active {
		t.Errorf("the ended entitlement: %+v", st.Products[0])
	}
}

// TestRuleB4_A26_OtherMachineListsNothingLicensed: a cloned or recovered
// store holds a license for another machine; none of its products is in
// force here.
func TestRuleB4_A26_OtherMachineListsNothingLicensed(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	writeRoot(t, f.root, otherHardware)
	st := f.status()
	for _, p := range st.Products {
		if p.Active {
			t.Errorf("%s is active on other hardware (state %s)", p.Code, st.State)
		}
	}
}

// TestRuleA26_NewActivationDoesNotSupersede: the first license of a new
// activation replaces the old activation's license; it does not
// supersede it (that is a later license of the same activation).
func TestRuleA26_NewActivationDoesNotSupersede(t *testing.T) {
	f := newFixture(t)
	r := f.request()
	if _, err := f.install(f.license(r, 1, true, nil)); err != nil {
		t.Fatal(err)
	}
	r2 := f.request()
	res, err := f.install(f.license(r2, 1, true, func(l *response.License) { l.Activation = "act-2" }))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced != 1 || res.ReplacedActivation != "act-1" {
		t.Errorf("replaced %d of %q", res.Replaced, res.ReplacedActivation)
	}
}
