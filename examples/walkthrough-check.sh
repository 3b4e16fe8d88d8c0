#!/usr/bin/env bash
# Runs the walkthroughs as a reader would: every command shown after "$ "
# in examples/walkthrough-*.md, as written, in order, in one shell, in a
# fresh empty directory, with the oat built from this checkout on PATH.
# Each command must exit as the walkthrough shows: 0, or the "(exit status
# N)" printed under it. (Outputs are not compared: key and activation IDs
# and dates differ from run to run.) CI runs this, so the walkthroughs
# cannot drift from what oat does.
# Usage: examples/walkthrough-check.sh [examples/walkthrough-NAME.md...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export OAT_SRC=$(cd "$here/.." && pwd)
bin=$(mktemp -d)
(cd "$OAT_SRC" && CGO_ENABLED=0 go build -o "$bin/oat" .)
export PATH="$bin:$PATH"
unset OAT_PASSPHRASE OAT_SYSROOT
[ $# -gt 0 ] || set -- "$here"/walkthrough-*.md
status=0
for md in "$@"; do
  md=$(cd "$(dirname "$md")" && pwd)/$(basename "$md")
  work=$(mktemp -d)
  # Turn each ```console block into: the command, its output to a log, and
  # a check of its exit status against the documented one.
  awk -v md="$md" '
    /^```console$/ { inblock = 1; cmd = ""; want = 0; next }
    inblock && cmd == "" && /^\$ / { cmd = substr($0, 3); line = NR; next }
    inblock && /^\(exit status [0-9]+\)$/ { want = $3; sub(/\)/, "", want); next }
    inblock && /^```$/ {
      inblock = 0
      if (cmd != "") {
        n++
        printf "{\n%s\n} >.walkthrough.log 2>&1 </dev/null; check %d %d $?\n", cmd, line, want
      }
    }
    END { printf "echo \"ok   %s (%d commands)\"\n", md, n }
  ' "$md" >"$work/.walkthrough.sh"
  cat >"$work/.walkthrough-prelude.sh" <<PRELUDE
check() {
  if [ "\$3" != "\$2" ]; then
    echo "FAIL $md:\$1: exit status \$3, the walkthrough shows \$2:" >&2
    sed -n "\$1p" "$md" >&2
    cat .walkthrough.log >&2
    exit 1
  fi
}
PRELUDE
  if ! (cd "$work" && bash -c 'source .walkthrough-prelude.sh; source .walkthrough.sh'); then
    status=1
  fi
  rm -rf "$work"
done
rm -rf "$bin"
exit $status
