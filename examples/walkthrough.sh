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
# OAT_SRC is the oat source tree, as the setup step tells the reader.
export OAT_SRC=$(cd "$here/.." && pwd)
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

# setup shows (and runs) what a reader types first, in an empty directory.
setup() {
  say "Start in an empty directory, with \`oat\` on your PATH (see the README's
Install section) and \`OAT_SRC\` set to where the oat source tree is. The
walkthrough uses the example catalog and the fake machines from that tree,
and one passphrase for every key. Every file it writes is in this
directory; \`examples/walkthrough-check.sh\` runs each command below, as
written here, in CI."
  run 'cp -r "$OAT_SRC/examples/catalog.json" "$OAT_SRC/examples/machines" . && rm -rf machines/*/var'
  run "export OAT_PASSPHRASE='correct horse battery staple'"
  export OAT_PASSPHRASE='correct horse battery staple'
}

source "$here/walkthrough-$1.sh"
