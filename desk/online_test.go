package desk_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/response"
)

func (in *installation) checkIn(t *testing.T, activation string, seq uint64) ([]byte, []byte) {
	t.Helper()
	nonce := make([]byte, checkin.NonceSize)
	rand.Read(nonce)
	data, err := checkin.SealCheckIn(checkin.CheckIn{Activation: activation, IssuedAt: time.Now().Unix(), Nonce: nonce, Sequence: seq}, in.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data, nonce
}

func (in *installation) onlineReceipt(t *testing.T, activation string, seq uint64) ([]byte, []byte) {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	data, err := release.Seal(release.Receipt{Activation: activation, IssuedAt: time.Now().Unix(), ID: id, Sequence: seq,
		License: []byte("x"), Host: in.host, Online: true}, in.priv)
	if err != nil {
		t.Fatal(err)
	}
	return data, id
}

// TestRuleA5_CheckIn: the desk answers an online activation's check-in with
// an acknowledgement bound to its nonce, carrying the newer license when
// the desk added a product since (A10), and nothing when the server is
// current.
func TestRuleA5_CheckIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("O2", "FN2", "buyer@example.com", "replica-server", 1, "")
		in := newInstallation("srv")
		is := fx.mustIssue(in.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})

		data, nonce := in.checkIn(t, is.Activation, 1)
		file, _, err := fx.desk.CheckIn(ctx, fx.vendor, data)
		if err != nil {
			t.Fatal(err)
		}
		a, err := checkin.ParseAck(file, fx.trust)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Answers(is.Activation, nonce, checkin.StateActive); err != nil || len(a.License) != 0 || a.Sequence != 1 {
			t.Fatalf("allowed: current server: %v %+v", err, a)
		}

		up, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "O2", Fulfillment: "FN2"})
		if err != nil {
			t.Fatal(err)
		}
		data, nonce = in.checkIn(t, is.Activation, 1)
		file, _, err = fx.desk.CheckIn(ctx, fx.vendor, data)
		if err != nil {
			t.Fatal(err)
		}
		a, err = checkin.ParseAck(file, fx.trust)
		if err != nil || a.Answers(is.Activation, nonce, checkin.StateActive) != nil {
			t.Fatalf("after the update: %v %+v", err, a)
		}
		l, err := response.Parse(a.License, fx.trust)
		if err != nil {
			t.Fatalf("carried license: %v", err)
		}
		if l.Sequence != 2 || !bytes.Equal(l.ID, up.License.ID) || len(l.Products) != 2 {
			t.Fatalf("carried license is not the update: %+v", l)
		}
		if m, _ := response.Parse(up.File, fx.trust); m == nil || !bytes.Equal(l.ID, m.ID) {
			t.Fatal("carried license differs from the issued one")
		}
	})
}

// TestRuleA5_CheckInRefused: a check-in from another key, for an offline or
// a released activation, or claiming a license the desk never issued, is
// refused.
func TestRuleA5_CheckInRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		fx.order("O3", "FN3", "buyer@example.com", "replica-server", 1, "")
		in := newInstallation("srv")
		is := fx.mustIssue(in.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
		thief := newInstallation("thief")
		data, _ := thief.checkIn(t, is.Activation, 1)
		_, _, err := fx.desk.CheckIn(ctx, fx.vendor, data)
		wantErr(t, err, desk.ErrBadFile, "")

		data, _ = in.checkIn(t, is.Activation, 5)
		_, _, err = fx.desk.CheckIn(ctx, fx.vendor, data)
		wantErr(t, err, desk.ErrBadFile, "not a valid file: the check-in holds license 5, but activation "+is.Activation+" is at 1")

		off := newInstallation("off")
		ois := fx.mustIssue(off.request(t, "O3", "FN3", "buyer@example.com"), desk.IssueOptions{})
		data, _ = off.checkIn(t, ois.Activation, 1)
		_, _, err = fx.desk.CheckIn(ctx, fx.vendor, data)
		wantErr(t, err, desk.ErrMethod, "the activation was made the other way: activation "+ois.Activation+" was made offline and needs no check-in")

		if _, err := fx.desk.ReleaseStale(ctx, is.Activation, "machine gone", "staff"); err != nil {
			t.Fatal(err)
		}
		data, _ = in.checkIn(t, is.Activation, 1)
		_, _, err = fx.desk.CheckIn(ctx, fx.vendor, data)
		wantErr(t, err, desk.ErrConflict, "conflicts with the ledger: activation "+is.Activation+" was released; activate this server again to use it")
	})
}

// TestFAQ3_11_OnlineReleasedOnlineOnly: an online activation is released by
// its online receipt, never by a receipt carried by hand; an offline one
// never by an online receipt; the online release answered twice frees the
// seat once.
func TestFAQ3_11_OnlineReleasedOnlineOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		fx.order("O2", "FN2", "buyer@example.com", "replica-server", 1, "")
		in := newInstallation("srv")
		is := fx.mustIssue(in.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})

		_, err := fx.desk.Release(ctx, in.receipt(t, is.Activation, 1))
		wantErr(t, err, desk.ErrMethod, "the activation was made the other way: activation "+is.Activation+` (host "srv") was activated online, and an offline release receipt cannot release it (FAQ 3.11): release it from the server with oat deactivate --portal, or, for a machine that is gone, ask the license desk (oat desk release-stale)`)
		// Marked online but carried by hand: still refused.
		rec, id := in.onlineReceipt(t, is.Activation, 1)
		_, err = fx.desk.Release(ctx, rec)
		wantErr(t, err, desk.ErrMethod, "")
		// Not marked online but sent online: refused too.
		_, _, err = fx.desk.ReleaseOnline(ctx, fx.vendor, in.receipt(t, is.Activation, 1))
		wantErr(t, err, desk.ErrMethod, "")
		if fx.used("O1", "backup-server") != 1 {
			t.Fatal("a refused receipt freed the seat")
		}

		for i := range 2 {
			file, rel, err := fx.desk.ReleaseOnline(ctx, fx.vendor, rec)
			if err != nil {
				t.Fatalf("online release #%d: %v", i+1, err)
			}
			a, err := checkin.ParseAck(file, fx.trust)
			if err != nil || a.Answers(is.Activation, id, checkin.StateReleased) != nil {
				t.Fatalf("release acknowledgement: %v %+v", err, a)
			}
			if rel.Repeat != (i == 1) {
				t.Fatalf("#%d repeat=%v", i+1, rel.Repeat)
			}
		}
		if fx.used("O1", "backup-server") != 0 {
			t.Fatal("the online release did not free the seat")
		}
		// Another receipt for the released activation frees nothing.
		rec2, _ := in.onlineReceipt(t, is.Activation, 1)
		_, _, err = fx.desk.ReleaseOnline(ctx, fx.vendor, rec2)
		wantErr(t, err, desk.ErrConflict, "")

		off := newInstallation("off")
		ois := fx.mustIssue(off.request(t, "O2", "FN2", "buyer@example.com"), desk.IssueOptions{})
		orec, _ := off.onlineReceipt(t, ois.Activation, 1)
		_, _, err = fx.desk.ReleaseOnline(ctx, fx.vendor, orec)
		wantErr(t, err, desk.ErrMethod, "")
		_, err = fx.desk.Release(ctx, orec)
		wantErr(t, err, desk.ErrMethod, "")
		if _, err := fx.desk.Release(ctx, off.receipt(t, ois.Activation, 1)); err != nil {
			t.Fatalf("allowed: offline receipt for an offline activation: %v", err)
		}
	})
}

// TestRuleA11_OnlineOrderNeverMixed: one order activated online on one
// server is refused offline on another, and the other way round.
func TestRuleA11_OnlineOrderNeverMixed(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		fx.mustIssue(newInstallation("a").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Online})
		_, err := fx.issue("b.oat", newInstallation("b").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{Method: desk.Offline})
		wantErr(t, err, desk.ErrConflict, "b.oat: conflicts with the ledger: order O1 is activated online on other servers and cannot be mixed with offline activation; release those first (A11, A20)")
		v := fx.show("O1")
		if len(v.Activations) != 1 || v.Activations[0].Method != desk.Online {
			t.Fatalf("the desk records the method: %+v", v.Activations)
		}
	})
}
