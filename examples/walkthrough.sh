#!/usr/bin/env bash
# Regenerates examples/walkthrough-*.md by running every command in them for
# real, in a temporary directory, with the oat built from this checkout.
# Usage: examples/walkthrough.sh physical|vpack|cluster > examples/walkthrough-NAME.md
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
(cd "$here/.." && go build -o "$bin/oat" .)
export PATH="$bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work" "$bin"' EXIT
cd "$work"
cp -r "$here/machines" machines
cp "$here/catalog.json" catalog.json
rm -rf machines/*/var # trial markers left by earlier runs
export OAT_PASSPHRASE='correct horse battery staple'
export USER=desk

say() { printf '%s\n\n' "$*"; }
# run shows a command as typed and what it printed; a refusal shows its exit code.
run() {
  printf '```console\n$ %s\n' "$*"
  set +e
  out=$(eval "$@" 2>&1)
  rc=$?
  set -e
  out=${out//$work\//}
  [ -n "$out" ] && printf '%s\n' "$out"
  [ $rc -ne 0 ] && printf '(exit status %d)\n' $rc
  printf '```\n\n'
}

source "$here/walkthrough-$1.sh"
