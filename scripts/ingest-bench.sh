#!/usr/bin/env bash
# One end-to-end ingest run: starts a fresh otelcontext (release build) on its own SQLite file in
# a temporary directory, runs loadsim against it, prints loadsim's report and stops the server.
# Server configuration comes from the environment (GRAPHRAG_ENABLED=false, DB_DRIVER=postgres with
# DB_DSN=..., and so on); everything after the options goes to loadsim.
#
#   scripts/ingest-bench.sh [--bin target/release/otelcontext] [--loadsim target/release/loadsim] -- \
#       --services 200 --rate 750 --duration 60s --warmup 5s --connections 8 --batch 1000
#
# The exit code is loadsim's: 0 when every acknowledged record was stored.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/otelcontext
loadsim=target/release/loadsim
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --loadsim) loadsim="$2"; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[[ -x "$bin" && -x "$loadsim" ]] || {
    echo "build first: cargo build --release -p otelcontext --bins (missing $bin or $loadsim)" >&2
    exit 2
}
bin="$(realpath "$bin")"
http_port="${BENCH_HTTP_PORT:-18080}"
grpc_port="${BENCH_GRPC_PORT:-14317}"
dir="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

(
    cd "$dir"
    export HTTP_PORT="$http_port" GRPC_PORT="$grpc_port" LOG_LEVEL="${LOG_LEVEL:-warn}"
    export DB_DSN="${DB_DSN:-$dir/otelcontext.db}" DLQ_PATH="${DLQ_PATH:-$dir/dlq}"
    exec "$bin"
) >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/ready" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/server.log" >&2; exit 2; }
    sleep 0.1
done
status=0
"$loadsim" --endpoint "http://127.0.0.1:$grpc_port" --http-endpoint "http://127.0.0.1:$http_port" "$@" || status=$?
if [[ -f "$dir/otelcontext.db" ]]; then
    echo "sqlite file          $(du -sm "$dir"/otelcontext.db* | awk '{s += $1} END {print s}') MiB (with WAL)"
fi
exit "$status"
