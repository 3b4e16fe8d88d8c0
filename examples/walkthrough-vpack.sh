# Sourced by walkthrough.sh: a vPack across two hypervisors.
say "# Walkthrough: a vPack across hypervisors

One vPack license covers up to 5 virtual machines on any number of
hypervisors (B2). Here six VMs, three on VMware ESXi and three on Hyper-V,
share one order; the desk counts VMs per activation, five to a seat, and
refuses a physical machine.

Every command below was run for real by \`examples/walkthrough.sh vpack\`;
the VMs are played by the fake system roots in \`examples/machines/\`
(\`OAT_SYSROOT\`), whose SMBIOS strings say VMware or Hyper-V. IDs differ
from run to run."
setup
say "## 1. The desk: one vPack seat"
run oat keys generate --out vendor
run oat desk init --db desk.db --catalog catalog.json
run oat desk order add --db desk.db --order ORD-1002 --fulfillment FN-1002-A --email it@example.com --product backup-vpack --seats 1

say "## 2. Six VMs write requests

Each VM is its own isolated installation with the product registered."
run 'for vm in vm-esx1 vm-esx2 vm-esx3 vm-hv1 vm-hv2 vm-hv3; do mkdir -p $vm-backup && OAT_SYSROOT=machines/$vm oat init --store $vm-oat --trust vendor.pub && OAT_SYSROOT=machines/$vm oat products add --store $vm-oat --code backup-vpack --settings-dir $vm-backup; done'
run OAT_SYSROOT=machines/vm-esx1 oat status --store vm-esx1-oat
run mkdir -p requests licenses
for vm in vm-esx1 vm-esx2 vm-esx3 vm-hv1 vm-hv2; do
  run OAT_SYSROOT=machines/$vm oat request --store $vm-oat --order ORD-1002 --fulfillment FN-1002-A --email it@example.com --out requests/$vm.request
done

say "## 3. The desk answers all five at once

One transaction: either every request is granted or none is."
run oat desk issue --db desk.db --key vendor.key --out-dir licenses requests/vm-esx1.request requests/vm-esx2.request requests/vm-esx3.request requests/vm-hv1.request requests/vm-hv2.request
run oat show licenses/vm-hv2.license --trust vendor.pub
run 'for vm in vm-esx1 vm-esx2 vm-esx3 vm-hv1; do OAT_SYSROOT=machines/$vm oat install --store $vm-oat licenses/$vm.license; done'
run OAT_SYSROOT=machines/vm-hv2 oat install --store vm-hv2-oat licenses/vm-hv2.license
run OAT_SYSROOT=machines/vm-hv2 oat status --store vm-hv2-oat
run oat desk show --db desk.db --order ORD-1002

say "## 4. A sixth VM, a physical server

The sixth VM would be the sixth unit of a 5-VM seat; a physical server is
not what a vPack licenses at all."
run OAT_SYSROOT=machines/vm-hv3 oat request --store vm-hv3-oat --order ORD-1002 --fulfillment FN-1002-A --email it@example.com --out requests/vm-hv3.request
run oat desk issue --db desk.db --key vendor.key --out licenses/vm-hv3.license requests/vm-hv3.request
run mkdir -p rack01-backup
run OAT_SYSROOT=machines/rack01 oat init --store rack01-oat --trust vendor.pub
run OAT_SYSROOT=machines/rack01 oat products add --store rack01-oat --code backup-vpack --settings-dir rack01-backup
run OAT_SYSROOT=machines/rack01 oat request --store rack01-oat --order ORD-1002 --fulfillment FN-1002-A --email it@example.com --out requests/rack01.request
run oat desk issue --db desk.db --key vendor.key --out licenses/rack01.license requests/rack01.request

say "## 5. A second vPack

A second order covers five more VMs; the sixth VM activates against it."
run oat desk order add --db desk.db --order ORD-1005 --fulfillment FN-1005-A --email it@example.com --product backup-vpack --seats 1
run OAT_SYSROOT=machines/vm-hv3 oat request --store vm-hv3-oat --order ORD-1005 --fulfillment FN-1005-A --email it@example.com --out requests/vm-hv3-2.request
run oat desk issue --db desk.db --key vendor.key --out licenses/vm-hv3.license requests/vm-hv3-2.request
run OAT_SYSROOT=machines/vm-hv3 oat install --store vm-hv3-oat licenses/vm-hv3.license
run oat desk show --db desk.db --order ORD-1005
