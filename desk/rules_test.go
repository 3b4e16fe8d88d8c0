package desk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/machine"
)

// Each test below is one rule of DESIGN.md, shown by the case it allows and
// the case it refuses, with the message the desk answers.

func class(c string) func(*machine.Fingerprint)  { return func(f *machine.Fingerprint) { f.Class = c } }
func osName(o string) func(*machine.Fingerprint) { return func(f *machine.Fingerprint) { f.OS = o } }
func cloud(c string) func(*machine.Fingerprint) {
	return func(f *machine.Fingerprint) { f.Hyper, f.Cloud = "kvm", c }
}
func sockets(n uint16) func(*machine.Fingerprint) {
	return func(f *machine.Fingerprint) { f.Sockets = n }
}

type ruleStep struct {
	name  string
	inst  *installation
	code  string
	opt   desk.IssueOptions
	email string
	want  string // "" = allowed; else the exact error
}

// runRule orders the product with seats and runs the steps in order.
func runRule(t *testing.T, code string, seats int64, steps []ruleStep) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("R1", "FN-R1", "buyer@example.com", code, seats, "")
		for _, s := range steps {
			email := s.email
			if email == "" {
				email = "buyer@example.com"
			}
			c := s.code
			if c == "" {
				c = code
			}
			before := fx.dump()
			_, err := fx.issue("r.oat", s.inst.request(t, "R1", "FN-R1", email, c), s.opt)
			switch {
			case s.want == "" && err != nil:
				t.Errorf("%s: refused: %v", s.name, err)
			case s.want != "" && err == nil:
				t.Errorf("%s: allowed, want %q", s.name, s.want)
			case s.want != "" && err.Error() != s.want:
				t.Errorf("%s:\n got: %v\nwant: %s", s.name, err, s.want)
			case s.want != "" && fx.dump() != before:
				t.Errorf("%s: a refusal changed the ledger", s.name)
			}
		}
	})
}

func TestRuleB2_ServerOneServerNotADesktop(t *testing.T) {
	runRule(t, "backup-server", 5, []ruleStep{
		{name: "physical server", inst: newInstallation("s1")},
		{name: "virtual server", inst: newInstallation("s2", vm("vmware"))},
		{name: "desktop PC", inst: newInstallation("pc", class("desktop")),
			want: "r.oat: not entitled: backup-server is licensed for one physical or virtual server; this machine is a desktop (B1, B2, B3, B4, B16)"},
	})
}

func TestRuleB2_DesktopNotOnServer(t *testing.T) {
	runRule(t, "backup-desktop", 5, []ruleStep{
		{name: "desktop PC", inst: newInstallation("pc", class("desktop"), osName("windows"))},
		{name: "server", inst: newInstallation("srv"),
			want: "r.oat: not entitled: backup-desktop is licensed for one PC; not on a server; this machine is a server (B2)"},
	})
}

func TestRuleB2_LinuxOnly(t *testing.T) {
	runRule(t, "backup-linux", 5, []ruleStep{
		{name: "Linux server", inst: newInstallation("lx")},
		{name: "Windows server", inst: newInstallation("win", osName("windows")),
			want: "r.oat: not entitled: backup-linux is licensed for one Linux server or virtual server; this machine runs windows (B2)"},
	})
}

func TestRuleB2_VirtualOneHostUnlimitedGuests(t *testing.T) {
	esx1 := desk.IssueOptions{Group: "esx1"}
	runRule(t, "backup-virtual", 1, []ruleStep{
		{name: "guest 1 on esx1", inst: newInstallation("g1", vm("vmware")), opt: esx1},
		{name: "guest 2 on esx1", inst: newInstallation("g2", vm("vmware")), opt: esx1},
		{name: "guest 3 on esx1", inst: newInstallation("g3", vm("vmware")), opt: esx1},
		{name: "guest on a second host", inst: newInstallation("g4", vm("vmware")), opt: desk.IssueOptions{Group: "esx2"},
			want: `r.oat: no free seats: order R1 has no free backup-virtual in pool "Default (Unassigned Licenses)": 1 of 1 seats in use, one per host`},
		{name: "guest that does not name its host", inst: newInstallation("g5", vm("vmware")),
			want: "r.oat: invalid input: backup-virtual is licensed per hypervisor host; this virtual machine must say which host it runs on (--group HOST) (B2, B6, B15)"},
	})
}

func TestRuleB2_vPackFiveVMs(t *testing.T) {
	steps := []ruleStep{}
	for i, hv := range []string{"vmware", "vmware", "hyperv", "hyperv", "kvm"} {
		steps = append(steps, ruleStep{name: fmt.Sprintf("VM %d on %s", i+1, hv), inst: newInstallation(fmt.Sprint("vm", i), vm(hv))})
	}
	steps = append(steps,
		ruleStep{name: "a 6th VM", inst: newInstallation("vm6", vm("vmware")),
			want: `r.oat: no free seats: order R1 has no free backup-vpack in pool "Default (Unassigned Licenses)": 1 of 1 seats in use (5 units in use, 5 per seat)`},
		ruleStep{name: "a physical machine", inst: newInstallation("phys"),
			want: "r.oat: not entitled: backup-vpack is licensed for up to 5 virtual machines, on any number of hypervisors; this is a physical machine (B2)"},
	)
	runRule(t, "backup-vpack", 1, steps)
}

func TestRuleB16_CloudLicenseOnlyInTheCloud(t *testing.T) {
	runRule(t, "backup-cloud", 1, []ruleStep{
		{name: "VM in AWS", inst: newInstallation("ec2", cloud("aws"))},
		{name: "VM in Azure", inst: newInstallation("az", cloud("azure"))},
		{name: "on-premises VM", inst: newInstallation("onprem", vm("vmware")),
			want: "r.oat: not entitled: backup-cloud is licensed for up to 5 virtual machines on AWS, Azure, GCP or OCI; this machine is on-premises (B2, B16)"},
	})
	runRule(t, "backup-server", 1, []ruleStep{
		{name: "on-premises license in the cloud", inst: newInstallation("ec2", cloud("aws")),
			want: "r.oat: not entitled: backup-server is licensed for one physical or virtual server; this machine is in the aws cloud, which needs a cloud license (B1, B2, B3, B4, B16)"},
	})
}

func TestRuleB17_ClusterNodesInTheSameGroup(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("C1", "FN-C1", "ops@example.net", "backup-cluster", 1, "")
		fx.order("C1", "FN-C1", "ops@example.net", "backup-cluster-node", 2, "")
		clu := desk.IssueOptions{Group: "clu1"}
		issue := func(host, code string, opt desk.IssueOptions) error {
			_, err := fx.issue("r.oat", newInstallation(host).request(t, "C1", "FN-C1", "ops@example.net", code), opt)
			return err
		}
		if err := issue("node1", "backup-cluster", clu); err != nil {
			t.Fatal(err)
		}
		if err := issue("node2", "backup-cluster", clu); err != nil {
			t.Fatal(err)
		}
		wantErr(t, issue("node3", "backup-cluster", clu), desk.ErrNoSeats,
			`r.oat: no free seats: cluster "clu1" already has 2 nodes on backup-cluster, which covers 2; another node needs an additional-node license (B2, B17)`)
		if err := issue("node3", "backup-cluster-node", clu); err != nil {
			t.Fatalf("an additional node in the cluster group: %v", err)
		}
		wantErr(t, issue("other", "backup-cluster-node", desk.IssueOptions{Group: "clu2"}), desk.ErrNotEntitled,
			`r.oat: not entitled: backup-cluster-node is licensed for one additional node, only within a cluster group that holds a cluster license; cluster "clu2" holds none (B17)`)
		wantErr(t, issue("node4", "backup-cluster-node", desk.IssueOptions{}), desk.ErrInvalidInput,
			"r.oat: invalid input: backup-cluster-node is licensed per cluster; name the cluster group (--group CLUSTER) (B17)")
	})
}

func TestRuleB22_ITProOneEngineerOneMediumOneYear(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("P1", "FN-P1", "eng@example.com", "backup-itpro", 1, "")
		fx.order("P1", "FN-P1", "eng@example.com", "backup-server", 1, "")
		usb1 := newInstallation("usb-1", class("desktop"), osName("windows"))
		is := fx.mustIssue(usb1.request(t, "P1", "FN-P1", "eng@example.com", "backup-itpro"), desk.IssueOptions{})
		if got, want := is.License.Products[0].Expires, fx.now.Add(365*24*time.Hour).Unix(); got != want {
			t.Errorf("IT Pro expires %d, want one year from activation %d", got, want)
		}
		_, err := fx.issue("r.oat", newInstallation("usb-2").request(t, "P1", "FN-P1", "eng@example.com", "backup-itpro"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrConflict,
			"r.oat: conflicts with the ledger: backup-itpro of eng@example.com is already in use on another machine; one medium in use at a time: deactivate it there first (B2, B22)")
		// Never on a protected machine: not with a protected product on one installation.
		_, err = fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "P1", Fulfillment: "FN-P1", Products: []string{"backup-server"}})
		wantErr(t, err, desk.ErrNotEntitled,
			"not entitled: backup-itpro is licensed for one named engineer for one year, unlimited machines, one medium in use at a time, never installed on a protected machine; this installation also holds backup-server, a protected machine (B2, B22)")
		// Once the first medium is released, another may be used, but the
		// year still runs from the seat's first activation.
		if _, err := fx.desk.Release(ctx, usb1.receipt(t, is.Activation, 1)); err != nil {
			t.Fatal(err)
		}
		first := fx.now
		fx.now = fx.now.Add(200 * 24 * time.Hour)
		usb2 := newInstallation("usb-2")
		is2 := fx.mustIssue(usb2.request(t, "P1", "FN-P1", "eng@example.com", "backup-itpro"), desk.IssueOptions{})
		if got, want := is2.License.Products[0].Expires, first.Add(365*24*time.Hour).Unix(); got != want {
			t.Errorf("moving the medium renewed IT Pro: expires %s, want %s",
				time.Unix(got, 0).UTC().Format(time.DateOnly), time.Unix(want, 0).UTC().Format(time.DateOnly))
		}
		if _, err := fx.desk.Release(ctx, usb2.receipt(t, is2.Activation, 1)); err != nil {
			t.Fatal(err)
		}
		// The seat is the engineer's: another engineer is refused, even
		// with every medium released (no lending or transfer).
		if err := fx.desk.Approve(ctx, "P1", "new@example.com", "test"); err != nil {
			t.Fatal(err)
		}
		newcomer := func() error {
			_, err := fx.issue("r.oat", newInstallation("usb-3").request(t, "P1", "FN-P1", "new@example.com", "backup-itpro"), desk.IssueOptions{})
			return err
		}
		wantErr(t, newcomer(), desk.ErrNoSeats,
			"r.oat: no free seats: order P1 has no free backup-itpro: its 1 seats belong to eng@example.com; a seat is never lent or transferred, only reassigned by the desk when its engineer leaves (B2, B22)")
		if fx.used("P1", "backup-itpro") != 1 {
			t.Error("a released IT Pro seat counts as free")
		}
		// The desk reassigns the seat of an engineer who left, audited; the
		// year does not restart.
		wantErr(t, fx.desk.ReassignSeat(ctx, "P1", "backup-itpro", "nobody@example.com", "new@example.com", "left", "test"), desk.ErrNotFound, "")
		if err := fx.desk.ReassignSeat(ctx, "P1", "backup-itpro", "eng@example.com", "new@example.com", "eng left the company", "test"); err != nil {
			t.Fatal(err)
		}
		is3, err := fx.issue("r.oat", newInstallation("usb-3").request(t, "P1", "FN-P1", "new@example.com", "backup-itpro"), desk.IssueOptions{})
		if err != nil {
			t.Fatalf("the reassigned seat: %v", err)
		}
		if got, want := is3.License.Products[0].Expires, first.Add(365*24*time.Hour).Unix(); got != want {
			t.Errorf("reassigning restarted the year: expires %d, want %d", got, want)
		}
		log, err := fx.desk.AuditLog(ctx, "P1", "")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range log {
			found = found || (e.Action == "seat.reassign" && strings.Contains(e.Detail, "eng left the company"))
		}
		if !found {
			t.Error("the reassignment is not in the audit log")
		}
		// After the year, the seat is spent.
		fx.now = first.Add(366 * 24 * time.Hour)
		if _, err := fx.desk.Release(ctx, newInstallation("x").receipt(t, is3.Activation, 1)); err == nil {
			t.Fatal("a receipt signed by another installation was accepted")
		}
		if _, err := fx.desk.ReleaseStale(ctx, is3.Activation, "medium lost", "test"); err != nil {
			t.Fatal(err)
		}
		_, err = fx.issue("r.oat", newInstallation("usb-4").request(t, "P1", "FN-P1", "new@example.com", "backup-itpro"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNotEntitled,
			"r.oat: not entitled: the seat of new@example.com for backup-itpro on order P1 ran from its first activation on 2026-03-01 and ended on 2027-03-01 (B2, B22)")
	})
}

// TestRuleA8_JudgedByTheOrdersHistory: the address of the order's first
// activation is free; another address needs approval whether or not the
// servers that used the first one are still active (FAQ 2.5, 2.6).
func TestRuleA8_JudgedByTheOrdersHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("H1", "FN-H1", "buyer@example.com", "backup-server", 3, "")
		a := newInstallation("a")
		is := fx.mustIssue(a.request(t, "H1", "FN-H1", "ops1@example.com"), desk.IssueOptions{})
		if _, err := fx.desk.Release(ctx, a.receipt(t, is.Activation, 1)); err != nil {
			t.Fatal(err)
		}
		before := fx.dump()
		_, err := fx.issue("r.oat", newInstallation("b").request(t, "H1", "FN-H1", "ops2@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrPendingApproval,
			"r.oat: waiting for approval: ops2@example.com is not approved for order H1, which other servers use with another address; the purchaser (buyer@example.com) must approve it first (A8)")
		if fx.dump() != before {
			t.Error("a refusal changed the ledger")
		}
		// The address that activated before, and the purchaser's, still may.
		fx.mustIssue(newInstallation("c").request(t, "H1", "FN-H1", "ops1@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("d").request(t, "H1", "FN-H1", "buyer@example.com"), desk.IssueOptions{})
		if err := fx.desk.Approve(ctx, "H1", "ops2@example.com", "buyer@example.com"); err != nil {
			t.Fatal(err)
		}
		fx.mustIssue(newInstallation("b").request(t, "H1", "FN-H1", "ops2@example.com"), desk.IssueOptions{})
	})
}

func TestRuleB23_DeployEachActivationConsumesOne(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("D1", "FN-D1", "oem@example.com", "backup-deploy", 2, "")
		a := newInstallation("pc-a", class("desktop"))
		is := fx.mustIssue(a.request(t, "D1", "FN-D1", "oem@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("pc-b", class("desktop")).request(t, "D1", "FN-D1", "oem@example.com"), desk.IssueOptions{})
		if _, err := fx.desk.Release(ctx, a.receipt(t, is.Activation, 1)); err != nil {
			t.Fatal(err)
		}
		_, err := fx.issue("r.oat", newInstallation("pc-c").request(t, "D1", "FN-D1", "oem@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats,
			`r.oat: no free seats: order D1 has no free backup-deploy in pool "Default (Unassigned Licenses)": 2 of 2 seats in use`)
	})
}

func TestRuleA28_SocketsOfTheHost(t *testing.T) {
	runRule(t, "replica-socket", 4, []ruleStep{
		{name: "2-socket host", inst: newInstallation("h1", sockets(2))},
		{name: "another 2-socket host", inst: newInstallation("h2", sockets(2))},
		{name: "a third host", inst: newInstallation("h3", sockets(1)),
			want: `r.oat: no free seats: order R1 has no free replica-socket in pool "Default (Unassigned Licenses)": 4 of 4 seats in use (4 sockets in use, 1 per seat)`},
		{name: "a VM", inst: newInstallation("vm", vm("kvm"), sockets(1)),
			want: "r.oat: not entitled: replica-socket is licensed for one CPU socket of the licensed (virtual host) machine per license; this is a virtual machine (kvm) (A28)"},
	})
}

func TestRuleA27_FiftyAgentsPerHostLicense(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("G1", "FN-G1", "buyer@example.com", "backup-agent-host", 1, "")
		var in []desk.Input
		for i := 0; i < 50; i++ {
			in = append(in, desk.Input{Name: fmt.Sprint(i), Data: newInstallation(fmt.Sprint("agent", i)).request(t, "G1", "FN-G1", "buyer@example.com")})
		}
		if _, err := fx.desk.Issue(ctx, fx.vendor, in, desk.IssueOptions{}); err != nil {
			t.Fatalf("50 agents on one host license: %v", err)
		}
		_, err := fx.issue("r.oat", newInstallation("agent50").request(t, "G1", "FN-G1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNoSeats,
			`r.oat: no free seats: order G1 has no free backup-agent-host in pool "Default (Unassigned Licenses)": 1 of 1 seats in use (50 units in use, 50 per seat)`)
	})
}

func TestRuleA11_OnlineAndOfflineNotMixed(t *testing.T) {
	runRule(t, "backup-server", 3, []ruleStep{
		{name: "online first", inst: newInstallation("a"), opt: desk.IssueOptions{Method: desk.Online}},
		{name: "online again", inst: newInstallation("b"), opt: desk.IssueOptions{Method: desk.Online}},
		{name: "offline", inst: newInstallation("c"),
			want: "r.oat: conflicts with the ledger: order R1 is activated online on other servers and cannot be mixed with offline activation; release those first (A11, A20)"},
	})
}

func TestRuleB1_SubscriptionEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("S1", "FN-S1", "buyer@example.com", "backup-server", 2, "2026-03-31")
		is := fx.mustIssue(newInstallation("a").request(t, "S1", "FN-S1", "buyer@example.com"), desk.IssueOptions{})
		if got := time.Unix(is.License.Products[0].Expires, 0).UTC().Format(time.DateTime); got != "2026-03-31 23:59:59" {
			t.Errorf("subscription ends %s", got)
		}
		fx.now = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		_, err := fx.issue("r.oat", newInstallation("b").request(t, "S1", "FN-S1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrNotEntitled, "r.oat: not entitled: the subscription for backup-server on order S1 ended on 2026-03-31 (B1)")
	})
}

func TestRuleA19_RenewalAddsToTheActivation(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("S1", "FN-S1", "buyer@example.com", "backup-server", 1, "2026-03-31")
		fx.order("S2", "FN-S2", "buyer@example.com", "backup-server", 1, "2027-03-31")
		is := fx.mustIssue(newInstallation("a").request(t, "S1", "FN-S1", "buyer@example.com"), desk.IssueOptions{})
		up, err := fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "S2", Fulfillment: "FN-S2"})
		if err != nil {
			t.Fatal(err)
		}
		if len(up.License.Products) != 2 || up.License.Products[1].Order != "S2" || up.Sequence != 2 {
			t.Errorf("renewal license = %+v", up.License.Products)
		}
		_, err = fx.desk.Update(ctx, fx.vendor, is.Activation, desk.Change{AddOrder: "S2", Fulfillment: "FN-S2"})
		wantErr(t, err, desk.ErrConflict, "conflicts with the ledger: activation "+is.Activation+" already holds the products of order S2")
	})
}

func TestRuleB4_ClonedInstallationIsANewMachine(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("O1", "FN1", "buyer@example.com", "backup-server", 2, "")
		orig := newInstallation("orig")
		is := fx.mustIssue(orig.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		// The same store (installation key, salt, machine-id) on other hardware.
		clone := *orig
		clone.fp.UUID, clone.fp.Serial, clone.fp.MACs = digest(), digest(), [][]byte{digest()}
		_, err := fx.issue("r.oat", clone.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrConflict, `r.oat: conflicts with the ledger: this installation is activated as `+is.Activation+` on another machine (host "orig"; differs: system UUID, system serial, network addresses; same: machine GUID): release that activation before activating here, or have the desk rebind it with oat desk move (A16, A26, B4)`)
		// The same store on hardware that hides its firmware identifiers and
		// network cards: what cannot be read counts as differing (issue 12).
		hidden := *orig
		hidden.fp.UUID, hidden.fp.Serial, hidden.fp.MACs = nil, nil, nil
		_, err = fx.issue("h.oat", hidden.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrInvalidInput, "h.oat: invalid input: not enough hardware evidence to bind a license to this machine: a physical machine needs its system UUID, system serial or board serial, and none was read; run oat request as root (Administrator on Windows)")
		// Only the network cards hidden: it matches, but the desk keeps the
		// stronger fingerprint it holds and refuses the sparser one.
		sparse := *orig
		sparse.fp.MACs = nil
		_, err = fx.issue("s.oat", sparse.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrConflict, "s.oat: conflicts with the ledger: this request carries less machine evidence than activation "+is.Activation+" holds (missing: network addresses); run oat request as root (Administrator on Windows), or have the desk rebind it with oat desk move (A26)")
		// One network card replaced: the same machine, an updated license.
		nic := *orig
		nic.fp.MACs = [][]byte{digest()}
		again := fx.mustIssue(nic.request(t, "O1", "FN1", "buyer@example.com"), desk.IssueOptions{})
		if again.Activation != is.Activation || fx.used("O1", "backup-server") != 1 {
			t.Error("a replaced network card took a new seat")
		}
	})
}
