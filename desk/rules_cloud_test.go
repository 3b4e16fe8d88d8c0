package desk_test

import "testing"

// TestRuleA30_CloudPerServerOrPerSocket: in an IaaS cloud (FAQ 5.13) one
// edition is licensed per server: one cloud VM per seat
// (replica-cloud-server); the other takes one socket's license per cloud
// VM, whatever the VM's vCPUs or sockets (replica-cloud-socket). Neither
// activates on premises.
func TestRuleA30_CloudPerServerOrPerSocket(t *testing.T) {
	t.Run("per socket", func(t *testing.T) {
		runRule(t, "replica-cloud-socket", 2, []ruleStep{
			{name: "2-socket VM in AWS is one socket", inst: newInstallation("ec2-a", cloud("aws"), sockets(2))},
			{name: "8-socket VM in GCP is one socket", inst: newInstallation("gce-a", cloud("gcp"), sockets(8))},
			{name: "a third VM", inst: newInstallation("az-a", cloud("azure"), sockets(1)),
				want: `r.oat: no free seats: order R1 has no free replica-cloud-socket in pool "Default (Unassigned Licenses)": 2 of 2 seats in use`},
			{name: "on-premises VM", inst: newInstallation("onprem", vm("vmware"), sockets(1)),
				want: "r.oat: not entitled: replica-cloud-socket is licensed for one socket per cloud VM: a cloud VM counts as one socket, whatever its vCPUs; this machine is on-premises (A30)"},
		})
	})
	t.Run("per server", func(t *testing.T) {
		runRule(t, "replica-cloud-server", 1, []ruleStep{
			{name: "a 2-socket VM is one server", inst: newInstallation("ec2-big", cloud("aws"), sockets(2))},
			{name: "another VM needs another seat", inst: newInstallation("ec2-b", cloud("aws"), sockets(1)),
				want: `r.oat: no free seats: order R1 has no free replica-cloud-server in pool "Default (Unassigned Licenses)": 1 of 1 seats in use`},
			{name: "on-premises VM", inst: newInstallation("onprem", vm("vmware")),
				want: "r.oat: not entitled: replica-cloud-server is licensed for one cloud VM per license (per-server edition in the cloud); this machine is on-premises (A30)"},
		})
	})
}
