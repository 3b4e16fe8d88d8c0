package check

import (
	"crypto/ed25519"
	"path/filepath"
	"time"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/online"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/signing"
)

// AckFile is the desk's latest acknowledgement of an online activation's
// check-in, which `oat refresh` writes beside the license copy
// (store.AckCopyFile).
const AckFile = "oat-checkin.oat"

// OnlineAck returns the Online hook for licenses issued to online
// activations (the license's online claim): it judges the A5 timeline with
// package online from vendor-signed data only, the later of the license's
// own issue time and the issue time of the acknowledgement in the settings
// directory, verified with the keys the product pins and for the same
// activation. A missing, damaged or foreign acknowledgement extends
// nothing: the count then runs from the license. An offline activation's
// license needs no contact and is left alone.
func OnlineAck(pinned []ed25519.PublicKey) OnlineFunc {
	trust := keys.NewTrustSet(pinned...)
	return func(dir string, l *response.License, now time.Time) (Online, error) {
		if l == nil || !l.Online {
			return Online{}, nil
		}
		last := l.IssuedAt
		if data, err := readFile(filepath.Join(dir, AckFile), signing.MaxFileSize); err == nil {
			if a, err := checkin.ParseAck(data, trust); err == nil &&
				a.Activation == l.Activation && a.State == checkin.StateActive && a.IssuedAt > last {
				last = a.IssuedAt
			}
		}
		h := online.Heartbeat{LastContact: time.Unix(last, 0), Seen: now}
		return FromTimeline(h.Status(now)), nil
	}
}

// FromTimeline turns the online package's status into the check's online
// standing; `oat status` uses it with the store's own record of contact.
func FromTimeline(st online.Status) Online {
	o := Online{Grace: st.State == online.InGrace, Suspended: st.State == online.Suspended}
	if o.Grace || o.Suspended {
		o.Ends = st.Suspends
	}
	if st.Warning != "" {
		o.Warnings = []string{st.Warning}
	}
	return o
}
