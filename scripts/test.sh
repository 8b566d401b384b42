#!/usr/bin/env bash
# Runs every test of the workspace: with cargo-nextest when it is installed, with plain
# `cargo test` otherwise (a fresh machine with only Rust needs nothing else).
# Extra arguments are passed to the test runner, e.g. `./scripts/test.sh -p otelcontext-domain`.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --all-targets --no-fail-fast "$@"
else
    echo "cargo-nextest not found; using cargo test" >&2
    exec cargo test --workspace --all-targets --no-fail-fast "$@"
fi
