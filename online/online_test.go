package online_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/online"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func days(n float64) time.Time { return t0.Add(time.Duration(n * float64(24*time.Hour))) }

// TestRuleA5_Timeline walks a connection lost at t0 day by day: warnings
// escalate at day 5, grace starts at day 14, the license is suspended at
// day 44, and each message is the one the user sees.
func TestRuleA5_Timeline(t *testing.T) {
	tests := []struct {
		at       float64
		state    online.State
		licensed bool
		warning  string
		repeat   time.Duration
	}{
		{0, online.Disconnected, true, "connection to the license server lost", 48 * time.Hour},
		{4.99, online.Disconnected, true, "connection to the license server lost", 48 * time.Hour},
		{5, online.Disconnected, true, "license expires on 2026-03-15: no connection to the license server since 2026-03-01", 0},
		{13.99, online.Disconnected, true, "license expires on 2026-03-15: no connection to the license server since 2026-03-01", 0},
		{14, online.InGrace, true, "license expired on 2026-03-15: to keep using the product, reconnect to the license server by 2026-04-14 or contact the license desk to renew the license", 0},
		{43.99, online.InGrace, true, "license expired on 2026-03-15: to keep using the product, reconnect to the license server by 2026-04-14 or contact the license desk to renew the license", 0},
		{44, online.Suspended, false, "license suspended: no connection to the license server since 2026-03-01; it is restored as soon as the connection is", 0},
		{400, online.Suspended, false, "license suspended: no connection to the license server since 2026-03-01; it is restored as soon as the connection is", 0},
	}
	for _, tt := range tests {
		var h online.Heartbeat
		h.Contact(t0)
		h.Lost(t0)
		st := h.Status(days(tt.at))
		if st.State != tt.state || st.Licensed != tt.licensed || st.Warning != tt.warning || st.Repeat != tt.repeat {
			t.Errorf("day %v: got %v licensed=%v repeat=%v %q\nwant %v licensed=%v repeat=%v %q",
				tt.at, st.State, st.Licensed, st.Repeat, st.Warning, tt.state, tt.licensed, tt.repeat, tt.warning)
		}
	}
}

// TestRuleA5_Connected: a product in contact shows nothing; one contact
// late is tolerated, two missed is a lost connection.
func TestRuleA5_Connected(t *testing.T) {
	var h online.Heartbeat
	h.Contact(t0)
	if st := h.Status(days(1.5)); st.State != online.Connected || st.Warning != "" || !st.Licensed {
		t.Errorf("allowed: 1.5 days after contact: %+v", st)
	}
	if st := h.Status(days(2)); st.State != online.Disconnected || st.Warning != "connection to the license server lost" {
		t.Errorf("refused: 2 days without contact: %+v", st)
	}
}

// TestRuleA5_ReconnectRestoresAtOnce: suspension ends the moment the
// connection is back, and the count starts again from that contact.
func TestRuleA5_ReconnectRestoresAtOnce(t *testing.T) {
	var h online.Heartbeat
	h.Contact(t0)
	h.Lost(days(1))
	if st := h.Status(days(50)); st.State != online.Suspended || st.Licensed {
		t.Fatalf("refused: day 50 disconnected: %+v", st)
	}
	h.Contact(days(50))
	if st := h.Status(days(50)); st.State != online.Connected || !st.Licensed || st.Warning != "" {
		t.Fatalf("allowed: reconnected on day 50: %+v", st)
	}
	h.Lost(days(51))
	if st := h.Status(days(55)); st.Warning != "license expires on 2026-05-04: no connection to the license server since 2026-04-20" {
		t.Fatalf("second disconnection counts from the new contact: %q", st.Warning)
	}
}

// TestRuleA5_ClockSetBack: setting the clock back during grace does not
// return the license to an earlier stage.
func TestRuleA5_ClockSetBack(t *testing.T) {
	var h online.Heartbeat
	h.Contact(t0)
	h.Lost(t0)
	if st := h.Status(days(20)); st.State != online.InGrace {
		t.Fatalf("day 20: %v", st.State)
	}
	if st := h.Status(days(1)); st.State != online.InGrace {
		t.Fatalf("refused: clock set back to day 1 gave %v, want grace", st.State)
	}
	// A contact made with the clock set back counts from the latest time seen.
	h.Contact(days(1))
	if !h.LastContact.Equal(days(20)) {
		t.Fatalf("contact at a set-back clock recorded %v", h.LastContact)
	}
}

// TestRuleA5_NeverContacted: an activation never confirmed online is not
// licensed.
func TestRuleA5_NeverContacted(t *testing.T) {
	var h online.Heartbeat
	st := h.Status(t0)
	if st.Licensed || st.Warning != "license is not activated online: connect to the license server to activate it" {
		t.Fatalf("%+v", st)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[online.State]string{online.Connected: "connected", online.Disconnected: "disconnected",
		online.InGrace: "grace", online.Suspended: "suspended", 9: "state(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

// TestRuleA5_EveryDay checks every whole day from contact to day 45, at its
// first second and its last: the state changes exactly at days 2 (the
// second missed daily contact), 5, 14 and 44.
func TestRuleA5_EveryDay(t *testing.T) {
	want := func(d int) online.State {
		switch {
		case d < 2:
			return online.Connected
		case d < 14:
			return online.Disconnected
		case d < 44:
			return online.InGrace
		}
		return online.Suspended
	}
	for d := 0; d <= 45; d++ {
		for _, at := range []time.Time{days(float64(d)), days(float64(d + 1)).Add(-time.Second)} {
			var h online.Heartbeat
			h.Contact(t0)
			st := h.Status(at)
			if st.State != want(d) || st.Licensed != (d < 44) {
				t.Errorf("day %d (%v): %v licensed=%v", d, at, st.State, st.Licensed)
			}
			expiresWarning := d >= 5 && d < 14
			if got := strings.HasPrefix(st.Warning, "license expires on 2026-03-15"); got != expiresWarning {
				t.Errorf("day %d: warning %q", d, st.Warning)
			}
		}
	}
}
