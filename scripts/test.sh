#!/usr/bin/env bash
# The whole test suite, as the README says: every package, with the race
# detector. Ledger tests also run against PostgreSQL when OAT_TEST_POSTGRES
# is set (.ci/run sets it), portal browser tests when Chromium is installed.
# The output is plain `go test`'s, followed by one "SKIPPED" line per suite
# that did not run (browser tests without Chromium, the PostgreSQL halves
# without OAT_TEST_POSTGRES, tools that are not installed), with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /dev/null ./internal/testreport
go test -race -count=1 -json "$@" ./... | go run ./internal/testreport
