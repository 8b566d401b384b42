#!/usr/bin/env bash
# The soak of docs/benchmarks.md: 50k spans/s with 5,000 logs/s and 2,000 metric points/s for an
# hour against a fresh release server, keeping the newest 10 minutes of data (deleted every minute
# through the admin purge route, which is retention's code path; retention itself counts in whole
# days). Prints loadsim's zero-loss check, the seed's health criteria, and RSS and file size every
# five minutes: both should level off after the first ten minutes.
#
#   scripts/soak.sh                       # SQLite
#   scripts/soak.sh --postgres postgres://postgres@127.0.0.1:5432/postgres
#   SOAK_DURATION=10m scripts/soak.sh     # a shorter run
#
# Not part of the test suite; takes the whole machine for the duration.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/ingest-bench.sh --keep "${SOAK_KEEP_SECONDS:-600}" "$@" -- \
    --services 200 --rate 250 --duration "${SOAK_DURATION:-60m}" --warmup 10s --connections 8 --batch 1000 \
    --logs-rate 5000 --metrics-rate 2000 --settle 120s
