# Sourced by walkthrough.sh: a physical server with two co-installed products.
say "# Walkthrough: a physical server

A physical rack server, \`rack01\`, with two products installed side by side:
Backup Server and Replica Server (rule A9: activated once, the license copied
to each product). Later the server is replaced by \`rack02\` (a transfer, A16
and B7), and finally a system recovery onto new hardware (A26).

Every command below was run for real by \`examples/walkthrough.sh physical\`;
the machines are played by the fake system roots in \`examples/machines/\`
(\`OAT_SYSROOT\`). Key and activation IDs differ from run to run."
setup
say "## 1. The license desk: a vendor key, a ledger, an order"
run oat keys generate --out vendor
run oat desk init --db desk.db --catalog catalog.json
run oat desk order add --db desk.db --order ORD-1001 --fulfillment FN-1001-A --email it@example.com --product backup-server --seats 1
run oat desk order add --db desk.db --order ORD-1001 --fulfillment FN-1001-A --email it@example.com --product replica-server --seats 1

say "## 2. The isolated server: installation, products, request

The admin creates the installation, trusting only the vendor's public key,
and registers the two products and where each keeps its copy of the license.
Before activation the products run as a 30-day trial (A4)."
run mkdir -p rack01-backup rack01-replica
run OAT_SYSROOT=machines/rack01 oat init --store rack01-oat --trust vendor.pub
run OAT_SYSROOT=machines/rack01 oat products add --store rack01-oat --code backup-server --settings-dir rack01-backup
run OAT_SYSROOT=machines/rack01 oat products add --store rack01-oat --code replica-server --settings-dir rack01-replica
run OAT_SYSROOT=machines/rack01 oat status --store rack01-oat
say "The request carries the three things of A1 (order, fulfillment number,
e-mail), the computer name and the hashed machine identifiers (A3), and is
signed by the installation key."
run OAT_SYSROOT=machines/rack01 oat request --store rack01-oat --order ORD-1001 --fulfillment FN-1001-A --email it@example.com --out rack01.request
run oat show rack01.request

say "## 3. The desk answers; the server installs

The operator carries \`rack01.request\` to a connected PC and uploads it (or
hands it to the desk). The desk checks the order and the license model (a
Server license needs a server-class machine, on premises: B2, B16), takes the
seats in one transaction and signs the license."
run oat desk issue --db desk.db --key vendor.key --out rack01.license rack01.request
run OAT_SYSROOT=machines/rack01 oat install --store rack01-oat rack01.license
run OAT_SYSROOT=machines/rack01 oat status --store rack01-oat
run ls rack01-backup rack01-replica
run oat desk show --db desk.db --order ORD-1001

say "## 4. The server is replaced: release, then activate (A16, B7)

A second server cannot take the seat while the first holds it: running both
in parallel needs a subscription for that period (B7, B8, B12)."
run mkdir -p rack02-backup rack02-replica
run OAT_SYSROOT=machines/rack02 oat init --store rack02-oat --trust vendor.pub
run OAT_SYSROOT=machines/rack02 oat products add --store rack02-oat --code backup-server --settings-dir rack02-backup
run OAT_SYSROOT=machines/rack02 oat products add --store rack02-oat --code replica-server --settings-dir rack02-replica
run OAT_SYSROOT=machines/rack02 oat request --store rack02-oat --order ORD-1001 --fulfillment FN-1001-A --email it@example.com --out rack02.request
run oat desk issue --db desk.db --key vendor.key --out rack02.license rack02.request
say "The old server deactivates: the license leaves the store and every
product, and a release receipt signed by the installation key returns the
seats to the pool \"Default (Unassigned Licenses)\" (A15)."
run OAT_SYSROOT=machines/rack01 oat deactivate --store rack01-oat --out rack01.release
run oat desk release --db desk.db rack01.release
run oat desk issue --db desk.db --key vendor.key --out rack02.license rack02.request
run OAT_SYSROOT=machines/rack02 oat install --store rack02-oat rack02.license
run oat desk show --db desk.db --order ORD-1001

say "## 5. A system recovery onto new hardware (A26)

\`rack02\`'s disk is restored from backup onto other hardware (played here by
\`rack01\`'s machine tree). The installation is the same, the machine is not:
the server says so in plain words, and the desk will not let the same
installation hold a second seat."
run cp -r rack02-oat recovered-oat
run OAT_SYSROOT=machines/rack01 oat status --store recovered-oat
run OAT_SYSROOT=machines/rack01 oat request --store recovered-oat --order ORD-1001 --fulfillment FN-1001-A --email it@example.com --out recovered.request
run oat desk issue --db desk.db --key vendor.key --out recovered.license recovered.request
say "The old hardware is gone and cannot write a release receipt, so the desk
approves the move: the old activation is released and the new one issued in
one transaction, and the seat count stays at one."
run oat desk move --db desk.db --key vendor.key --reason \"'system recovered onto new hardware, ticket 4711'\" --out recovered.license recovered.request
run OAT_SYSROOT=machines/rack01 oat install --store recovered-oat recovered.license
run oat desk show --db desk.db --order ORD-1001
