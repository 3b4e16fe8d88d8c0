#!/usr/bin/env bash
# The whole test suite, as the README says: every package, with the race
# detector. Ledger tests also run against PostgreSQL when OAT_TEST_POSTGRES
# is set (.ci/run sets it), portal browser tests when Chromium is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...
