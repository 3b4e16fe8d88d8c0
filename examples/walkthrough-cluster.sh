# Sourced by walkthrough.sh: a 3-node cluster.
say "# Walkthrough: a 3-node cluster

A Cluster license covers one 2-node cluster; a third node needs an
additional-node license, which only activates within a cluster group that
holds a Cluster license (B2, B17). The cluster group is something the
machines cannot know about each other, so the license desk names it when it
issues (\`--group\`).

Every command below was run for real by \`examples/walkthrough.sh cluster\`;
the nodes are played by the fake system roots \`examples/machines/node1..3\`
(\`OAT_SYSROOT\`). IDs differ from run to run."
setup
say "## 1. The desk: one Cluster license and one additional node"
run oat keys generate --out vendor
run oat desk init --db desk.db --catalog catalog.json
run oat desk order add --db desk.db --order ORD-1003 --fulfillment FN-1003-A --email ops@example.net --product backup-cluster --seats 1
run oat desk order add --db desk.db --order ORD-1003 --fulfillment FN-1003-A --email ops@example.net --product backup-cluster-node --seats 1

say "## 2. The three nodes write requests

Nodes 1 and 2 ask for the Cluster license, node 3 first tries it too."
run mkdir -p requests licenses
run 'for n in node1 node2 node3; do mkdir -p $n-backup && OAT_SYSROOT=machines/$n oat init --store $n-oat --trust vendor.pub && OAT_SYSROOT=machines/$n oat products add --store $n-oat --code backup-cluster --settings-dir $n-backup; done'
for n in node1 node2 node3; do
  run OAT_SYSROOT=machines/$n oat request --store $n-oat --order ORD-1003 --fulfillment FN-1003-A --email ops@example.net --product backup-cluster --out requests/$n.request
done

say "## 3. The desk issues to the cluster group \`clu-a\`

Without a group the desk cannot count the cluster, and says so."
run oat desk issue --db desk.db --key vendor.key --out licenses/node1.license requests/node1.request
run oat desk issue --db desk.db --key vendor.key --group clu-a --out-dir licenses requests/node1.request requests/node2.request
run OAT_SYSROOT=machines/node1 oat install --store node1-oat licenses/node1.license
run OAT_SYSROOT=machines/node2 oat install --store node2-oat licenses/node2.license
say "The third node does not fit in the 2-node Cluster license:"
run oat desk issue --db desk.db --key vendor.key --group clu-a --out licenses/node3.license requests/node3.request

say "## 4. The third node on the additional-node license

Node 3 registers the additional-node product and asks for it. In another
cluster group, which holds no Cluster license, it is refused (B17); in
\`clu-a\` it is granted."
run OAT_SYSROOT=machines/node3 oat products add --store node3-oat --code backup-cluster-node --settings-dir node3-backup
run OAT_SYSROOT=machines/node3 oat request --store node3-oat --order ORD-1003 --fulfillment FN-1003-A --email ops@example.net --product backup-cluster-node --out requests/node3-add.request
run oat desk issue --db desk.db --key vendor.key --group clu-b --out licenses/node3.license requests/node3-add.request
run oat desk issue --db desk.db --key vendor.key --group clu-a --out licenses/node3.license requests/node3-add.request
run OAT_SYSROOT=machines/node3 oat install --store node3-oat licenses/node3.license
run OAT_SYSROOT=machines/node3 oat status --store node3-oat
run oat desk show --db desk.db --order ORD-1003
