package desk_test

import "testing"

// TestRuleA30_CloudPerServerOrPerSocket: in an IaaS cloud one edition is
// licensed per server (backup-cloud: a VM is a unit, five to a seat), the
// other per socket of each cloud VM (replica-cloud-socket); neither
// activates on premises.
func TestRuleA30_CloudPerServerOrPerSocket(t *testing.T) {
	t.Run("per socket", func(t *testing.T) {
		runRule(t, "replica-cloud-socket", 2, []ruleStep{
			{name: "1-socket VM in AWS", inst: newInstallation("ec2-a", cloud("aws"), sockets(1))},
			{name: "1-socket VM in GCP", inst: newInstallation("gce-a", cloud("gcp"), sockets(1))},
			{name: "a third socket", inst: newInstallation("az-a", cloud("azure"), sockets(1)),
				want: `r.oat: no free seats: order R1 has no free replica-cloud-socket in pool "Default (Unassigned Licenses)": 2 of 2 seats in use (2 sockets in use, 1 per seat)`},
			{name: "on-premises VM", inst: newInstallation("onprem", vm("vmware"), sockets(1)),
				want: "r.oat: not entitled: replica-cloud-socket is licensed for one socket per cloud VM; this machine is on-premises (A30)"},
		})
	})
	t.Run("per server", func(t *testing.T) {
		runRule(t, "backup-cloud", 1, []ruleStep{
			{name: "a 2-socket VM is one server", inst: newInstallation("ec2-big", cloud("aws"), sockets(2))},
			{name: "another VM", inst: newInstallation("ec2-b", cloud("aws"), sockets(4))},
		})
	})
}
