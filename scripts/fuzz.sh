#!/usr/bin/env bash
# Runs every Fuzz target in the module for a bounded time each (default 10s).
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out while a worker is still busy
# (golang/go#75804, fixed in Go 1.27). That is not a finding: no input is
# written. A target fails here when go test fails for any other reason, or
# when it writes a failing input to testdata/fuzz/<target>/; the coordinator
# race alone is reported and the target is run once more.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
flakes=0

# run_target PKG DIR TARGET: 0 pass, 1 finding or other failure, 2 the race.
run_target() {
  local pkg=$1 dir=$2 target=$3 before after
  before=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | sort || true)
  if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
    cat "$log"
    return 0
  fi
  cat "$log"
  after=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | sort || true)
  if [ "$before" = "$after" ] && ! grep -q 'Failing input written' "$log" &&
    [ "$(grep -c -- '--- FAIL' "$log")" = 1 ] &&
    grep -A1 -- '--- FAIL' "$log" | tail -1 | grep -qx '[[:space:]]*context deadline exceeded'; then
    return 2
  fi
  return 1
}

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    rc=0
    run_target "$pkg" "$dir" "$target" || rc=$?
    if [ "$rc" = 2 ]; then
      flakes=$((flakes + 1))
      echo "fuzz $target: the fuzz coordinator's deadline race (golang/go#75804), no input written; running it again"
      rc=0
      run_target "$pkg" "$dir" "$target" || rc=$?
      if [ "$rc" = 2 ]; then
        echo "fuzz $target: the deadline race again, still no input written; not a finding"
        rc=0
      fi
    fi
    if [ "$rc" != 0 ]; then
      echo "fuzz $target: FAILED" >&2
      exit 1
    fi
  done
done
echo "fuzzing done; coordinator deadline races seen: $flakes"
