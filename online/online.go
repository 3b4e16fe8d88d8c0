// Package online models what the activation rules say about an *online*
// activation: the product must keep reaching the license server, and when
// it cannot, warnings escalate, a grace period follows and finally the
// license is suspended until the connection is back (rule A5).
//
// An offline activation (A6) needs no connection afterwards. An online one
// (oat activate) keeps in touch with `oat refresh`, and this package is the
// one place the timeline is computed: the store judges `oat status` with
// it, from the last acknowledgement the desk signed, and products judge
// their license copy with it (package check). It is pure and
// clock-injected so it can be tested to the day. The desk records the
// method of every activation so that one order never mixes the two (A11),
// and a change of method is a release followed by a new activation (A20).
//
// The timeline, counted from the last successful contact:
//
//	day 0–4    disconnected  "connection to the license server lost" (every 2 days)
//	day 5–13   disconnected  "license expires on DATE" (at every use)
//	day 14–43  grace         "license expired on DATE; ..." (at every use)
//	day 44–    suspended     the product is not licensed
//
// DATE is the day the 14 days run out. Reconnecting at any point makes the
// license active at once, suspended or not.
package online

import (
	"fmt"
	"time"
)

// The periods of rule A5.
const (
	// Interval is how often a connected product reaches the license
	// server; missing one contact is a lost connection.
	Interval = 24 * time.Hour
	// WarnExpiry is when the warning turns from "connection lost" to
	// "license expires on DATE".
	WarnExpiry = 5 * 24 * time.Hour
	// Disconnect is how long a product may stay disconnected before grace.
	Disconnect = 14 * 24 * time.Hour
	// Grace is how long the license keeps working after Disconnect.
	Grace = 30 * 24 * time.Hour
	// LostRepeat is how often "connection lost" is repeated; the later
	// warnings are given at every use of the product.
	LostRepeat = 48 * time.Hour
)

// State is where an online activation stands.
type State int

// The states of an online activation.
const (
	Connected State = iota
	Disconnected
	InGrace
	Suspended
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case InGrace:
		return "grace"
	case Suspended:
		return "suspended"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Heartbeat is the record a product keeps of its contact with the license
// server. The zero value has never been in contact; activate online with
// Contact.
type Heartbeat struct {
	LastContact time.Time // last successful contact
	Failing     bool      // the latest attempt failed
	Seen        time.Time // the latest time ever observed: a clock set back does not turn back the count
}

// Contact records a successful contact at now: the license is active again
// at once, whatever state it was in.
func (h *Heartbeat) Contact(now time.Time) {
	h.observe(now)
	h.LastContact = h.Seen
	h.Failing = false
}

// Lost records a failed attempt to reach the license server at now.
func (h *Heartbeat) Lost(now time.Time) {
	h.observe(now)
	h.Failing = true
}

func (h *Heartbeat) observe(now time.Time) {
	if now.After(h.Seen) {
		h.Seen = now
	}
}

// Status is what the product shows and does at one moment.
type Status struct {
	State    State
	Licensed bool          // false only when suspended
	Since    time.Time     // last successful contact
	Expires  time.Time     // when grace starts: the DATE of the warnings
	Suspends time.Time     // when grace ends
	Warning  string        // the message the user sees, "" when connected
	Repeat   time.Duration // how often to repeat Warning; 0 = at every use
}

// Status evaluates the heartbeat at now (taken as no earlier than any time
// seen before) and records now as seen.
func (h *Heartbeat) Status(now time.Time) Status {
	h.observe(now)
	now = h.Seen
	since := h.LastContact
	st := Status{
		Since:    since,
		Expires:  since.Add(Disconnect),
		Suspends: since.Add(Disconnect + Grace),
		Licensed: true,
	}
	off := now.Sub(since)
	date := func(t time.Time) string { return t.In(now.Location()).Format(time.DateOnly) }
	switch {
	case since.IsZero():
		st.State, st.Licensed = Suspended, false
		st.Warning = "license is not activated online: connect to the license server to activate it"
	case !h.Failing && off < 2*Interval:
		// One missed contact is tolerated before calling it lost, so a
		// contact a little late is not a warning.
		st.State = Connected
	case off < WarnExpiry:
		st.State, st.Repeat = Disconnected, LostRepeat
		st.Warning = "connection to the license server lost"
	case off < Disconnect:
		st.State = Disconnected
		st.Warning = "license expires on " + date(st.Expires) + ": no connection to the license server since " + date(since)
	case off < Disconnect+Grace:
		st.State = InGrace
		st.Warning = "license expired on " + date(st.Expires) + ": to keep using the product, reconnect to the license server by " +
			date(st.Suspends) + " or contact the license desk to renew the license"
	default:
		st.State, st.Licensed = Suspended, false
		st.Warning = "license suspended: no connection to the license server since " + date(since) +
			"; it is restored as soon as the connection is"
	}
	return st
}
