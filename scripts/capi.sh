#!/usr/bin/env bash
# Builds the C ABI (capi/) as a shared library and as a static archive,
# compiles capi/testdata/check_test.c against each with the system cc, and
# runs it against a license really installed by the oat command (desk
# issue, init, request, install) on an example machine tree.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== build liboat (c-shared, c-archive)"
go build -buildmode=c-shared -o "$tmp/shared/liboat.so" ./capi
go build -buildmode=c-archive -o "$tmp/static/liboat.a" ./capi
cc -Wall -Werror -I"$tmp/shared" -o "$tmp/check-shared" capi/testdata/check_test.c \
  -L"$tmp/shared" -loat -Wl,-rpath,"$tmp/shared"
cc -Wall -Werror -I"$tmp/static" -o "$tmp/check-static" capi/testdata/check_test.c \
  "$tmp/static/liboat.a" -lpthread -lm -ldl
go build -o "$tmp/oat" .

echo "== install a license with the oat command"
cp -r examples/machines/rack01 "$tmp/rack"
cp -r examples/machines/rack02 "$tmp/other"
cd "$tmp"
export OAT_PASSPHRASE="capi test passphrase" OAT_SYSROOT="$tmp/rack"
oat() { "$tmp/oat" "$@" >/dev/null; }
oat keys generate --out vendor
oat keys generate --out other
oat desk init --db desk.db --catalog "$repo/examples/catalog.json"
oat desk order add --db desk.db --order ORD-1 --fulfillment FN-1 --email it@example.com --product backup-server --seats 1
oat init --store store --trust vendor.pub
mkdir backup
oat products add --store store --code backup-server --settings-dir backup
oat request --store store --order ORD-1 --fulfillment FN-1 --email it@example.com --out req.oat
oat desk issue --db desk.db --key vendor.key --out lic.oat req.oat
oat install --store store lic.oat
"$tmp/oat" check --settings-dir backup --product backup-server --trust vendor.pub

for prog in check-shared check-static; do
  echo "== $prog"
  ./$prog backup backup-server vendor.pub rack 0 licensed       # licensed
  ./$prog backup backup-virtual vendor.pub rack 1 trial         # a product the license does not cover
  ./$prog backup backup-server other.pub rack 1 trial           # a key the product does not pin
  ./$prog backup backup-server vendor.pub other 1 unlicensed    # copied to other hardware (no trial there)
  ./$prog backup backup-server vendor.pub - 1 '*'               # this CI machine is not the example rack
  ./$prog --null
done

echo "== doc/product.md's example.c, with the vendor key compiled in"
printf 'const char vendor_pem[] = "%s";\n' "$(sed 's/$/\\n/' vendor.pub | tr -d '\n')" > vendor_pem.c
cc -Wall -Werror -I"$tmp/shared" -o example "$repo/capi/testdata/example.c" vendor_pem.c \
  -L"$tmp/shared" -loat -Wl,-rpath,"$tmp/shared"
./example backup rack | tee example.out
grep -q '^licensed: {"licensed":true,"state":"licensed","product":"backup-server"' example.out

echo "== after oat deactivate"
oat deactivate --store store --out release.oat
./check-shared backup backup-server vendor.pub rack 1 trial
echo "C ABI: all checks passed"
