package desk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/rotation"
)

// TestVendorKeys is issue 12, finding 5: the desk signs only with a key the
// ledger lists. A ledger made without one learns the key of its first
// signing (audited); any other key is refused before anything changes, and
// a repeated request gives the same bytes.
func TestVendorKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		srv := newInstallation("srv01")
		req := srv.request(t, "O1", "FN1", "buyer@example.com")
		first := fx.mustIssue(req, desk.IssueOptions{})
		ks, err := fx.desk.VendorKeys(ctx)
		if err != nil || len(ks) != 1 || ks[0].How != "learned" || !bytes.Equal(ks[0].Public, fx.vendor.Public().(ed25519.PublicKey)) {
			t.Fatalf("learned keys: %+v %v", ks, err)
		}
		if !strings.Contains(fx.dump(), "vendor.key.learned") {
			t.Error("learning the key is not in the audit log")
		}
		before := fx.dump()
		// Another key: refused, for a new request, a repeat, an update and a move.
		_, err = fx.desk.IssueOne(ctx, other, "r2.oat", newInstallation("srv02").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrVendorKey, "")
		_, err = fx.desk.IssueOne(ctx, other, "r.oat", req, desk.IssueOptions{})
		wantErr(t, err, desk.ErrVendorKey, "")
		_, err = fx.desk.Update(ctx, other, first.Activation, desk.Change{Pool: "p"})
		wantErr(t, err, desk.ErrVendorKey, "")
		moved := *srv
		moved.fp.UUID, moved.fp.Serial, moved.fp.MACs = digest(), digest(), [][]byte{digest()}
		_, err = fx.desk.Move(ctx, other, "m.oat", moved.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}, "new hardware")
		wantErr(t, err, desk.ErrVendorKey, "")
		if after := fx.dump(); after != before {
			t.Errorf("a refused key changed the ledger:\n%s", diffLines(before, after))
		}
		// The same request with the listed key: the very same bytes.
		again := fx.mustIssue(req, desk.IssueOptions{})
		if !again.Repeat || !bytes.Equal(again.File, first.File) {
			t.Errorf("repeat: repeat=%v, same bytes=%v", again.Repeat, bytes.Equal(again.File, first.File))
		}

		// A rotation statement signed by the listed key adds the other key;
		// a statement by an unlisted key is refused.
		st, _ := rotation.New(other.Public().(ed25519.PublicKey), false, time.Now())
		self, _ := rotation.Seal(st, other)
		_, err = fx.desk.Rotate(ctx, self, "desk")
		wantErr(t, err, desk.ErrVendorKey, "")
		rot, _ := rotation.Seal(st, fx.vendor)
		if _, err := fx.desk.Rotate(ctx, rot, "desk"); err != nil {
			t.Fatal(err)
		}
		// A repeat signed with the new key would be another file: refused.
		_, err = fx.desk.IssueOne(ctx, other, "r.oat", req, desk.IssueOptions{})
		wantErr(t, err, desk.ErrConflict, "r.oat: conflicts with the ledger: this request was answered with vendor key "+keyID(fx.vendor)+"; sign the repeat with that key to get the same file")
		if _, err := fx.desk.IssueOne(ctx, other, "r3.oat", newInstallation("srv03").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}); err != nil {
			t.Fatalf("the rotated-in key: %v", err)
		}
	})
}

// TestVendorKeysAtInit: keys named up front; another key is never learned.
func TestVendorKeysAtInit(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		if err := fx.desk.SetVendorKeys(ctx, []ed25519.PublicKey{fx.vendor.Public().(ed25519.PublicKey)}, "desk"); err != nil {
			t.Fatal(err)
		}
		err := fx.desk.SetVendorKeys(ctx, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}, "desk")
		wantErr(t, err, desk.ErrVendorKey, "")
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 1, "")
		_, err = fx.desk.IssueOne(ctx, other, "r.oat", newInstallation("srv").request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrVendorKey, "")
		if fx.used("O1", "backup-server") != 0 {
			t.Error("a refused key took a seat")
		}
		if err := fx.desk.CheckVendorKey(ctx, other.Public().(ed25519.PublicKey)); err == nil {
			t.Error("CheckVendorKey accepts an unlisted key")
		}
	})
}

// TestReleasedMeansReleased is issue 12, finding 4: a repeated request of a
// released, stale-released or moved activation is refused with that reason,
// and so are a repeat and a receipt naming a superseded license.
func TestReleasedMeansReleased(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 3, "")
		cases := []struct {
			name    string
			release func(in *installation, is *desk.Issued)
			how     string
		}{
			{"receipt", func(in *installation, is *desk.Issued) {
				if _, err := fx.desk.Release(ctx, in.receipt(t, is.Activation, is.Sequence)); err != nil {
					t.Fatal(err)
				}
			}, "was released with a release receipt"},
			{"stale", func(in *installation, is *desk.Issued) {
				if _, err := fx.desk.ReleaseStale(ctx, is.Activation, "gone", "desk"); err != nil {
					t.Fatal(err)
				}
			}, "was released by the desk as stale (release-stale)"},
			{"moved", func(in *installation, is *desk.Issued) {
				moved := *in
				moved.fp.UUID, moved.fp.Serial, moved.fp.MACs = digest(), digest(), [][]byte{digest()}
				if _, err := fx.desk.Move(ctx, fx.vendor, "m.oat", moved.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{}, "new hardware"); err != nil {
					t.Fatal(err)
				}
			}, "was moved to another machine (desk move)"},
		}
		for _, c := range cases {
			in := newInstallation("srv-" + c.name)
			req := in.request(t, "O1", "FN1", "buyer@example.com")
			is := fx.mustIssue(req, desk.IssueOptions{})
			c.release(in, is)
			_, err := fx.issue("r.oat", req, desk.IssueOptions{})
			wantErr(t, err, desk.ErrReleased, "")
			if err != nil && !strings.Contains(err.Error(), c.how) {
				t.Errorf("%s: %v does not say it %s", c.name, err, c.how)
			}
		}

		// Superseded: license 1 answered the request, license 2 replaced it.
		fx.order("O2", "FN2", "buyer@example.com", "backup-server", 1, "")
		fx.order("O3", "FN3", "buyer@example.com", "replica-server", 1, "")
		in := newInstallation("srv-upd")
		req := in.request(t, "O2", "FN2", "buyer@example.com")
		is := fx.mustIssue(req, desk.IssueOptions{})
		if _, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "O3", Fulfillment: "FN3"}); err != nil {
			t.Fatal(err)
		}
		_, err := fx.issue("r.oat", req, desk.IssueOptions{})
		wantErr(t, err, desk.ErrSuperseded, "")
		_, err = fx.desk.Release(ctx, in.receipt(t, is.Activation, 1))
		wantErr(t, err, desk.ErrSuperseded, "")
		if _, err := fx.desk.Release(ctx, in.receipt(t, is.Activation, 2)); err != nil {
			t.Fatalf("the receipt of the newest license: %v", err)
		}
	})
}

func keyID(k ed25519.PrivateKey) string { return keys.KeyID(k.Public().(ed25519.PublicKey)).String() }

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostGroupsFromIdentity is issue 12, finding 2: a physical host's group
// for per-host models is derived from its verified identity, not from the
// host name it reports; the operator's --group for VMs is held to the
// hypervisor the VMs report.
func TestHostGroupsFromIdentity(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("V1", "FN1", "buyer@example.com", "backup-virtual", 1, "")
		first := newInstallation("hv01")
		is := fx.mustIssue(first.request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		group := desk.HostGroup(first.priv.Public().(ed25519.PublicKey))
		// Four more physical servers, all named hv01: one seat, one host.
		for i := range 4 {
			_, err := fx.issue("r.oat", newInstallation("hv01").request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{})
			wantErr(t, err, desk.ErrNoSeats, "")
			if i == 0 && err != nil && !strings.Contains(err.Error(), "one per host") {
				t.Errorf("message: %v", err)
			}
		}
		// A physical server cannot claim another host's group either.
		_, err := fx.issue("r.oat", newInstallation("hv02").request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{Group: group})
		wantErr(t, err, desk.ErrInvalidInput, "")
		// Guests name the host's derived group; the first one records its
		// hypervisor, and a guest of another hypervisor is refused there.
		fx.mustIssue(newInstallation("vm1", vm("vmware")).request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{Group: group})
		fx.mustIssue(newInstallation("vm2", vm("vmware")).request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{Group: group})
		_, err = fx.issue("r.oat", newInstallation("vm3", vm("hyperv")).request(t, "V1", "FN1", "buyer@example.com"), desk.IssueOptions{Group: group})
		wantErr(t, err, desk.ErrConflict, `r.oat: conflicts with the ledger: backup-virtual: this virtual machine reports the hyperv hypervisor, but group "`+group+`" is a vmware host's; name the host it runs on (--group HOST) (B2, B6, B15)`)
		if fx.used("V1", "backup-virtual") != 1 {
			t.Errorf("seats used: %d, want 1 (activation %s)", fx.used("V1", "backup-virtual"), is.Activation)
		}
	})
}
