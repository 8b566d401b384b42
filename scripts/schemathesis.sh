#!/usr/bin/env bash
# Fuzzes the running query API against its committed OpenAPI document with Schemathesis:
# no 5xx, only the status codes the spec declares, bodies that match the declared schemas.
#
#   ./scripts/schemathesis.sh http://127.0.0.1:8080 [extra `st run` options...]
#
# The base URL may be given with or without the `/api` prefix (the spec's `servers` entry is
# the relative `/api`; with `--url` Schemathesis does not append it, so it is added here).
#
# Environment:
#   API_KEY                    bearer token sent as `Authorization: Bearer ...` (optional)
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation (default 50)
#   SCHEMATHESIS_VENV          virtualenv holding Schemathesis (default target/schemathesis-venv)
#   SCHEMATHESIS_REPORT_DIR    where the JUnit report goes (default target/schemathesis-report)
#   PYTHON                     interpreter used to create the virtualenv (default python3)
#
# Exits non-zero when a check fails (or Schemathesis itself errors).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
SPEC="openapi/openapi.yaml"
VENV="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-target/schemathesis-report}"

if [[ $# -lt 1 || -z "$1" ]]; then
    echo "usage: $0 BASE_URL [extra st run options...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
base="${1%/}"
shift
base="${base%/api}"
api_url="${base}/api"

# Install the pinned Schemathesis into its own virtualenv unless it is already there.
st="${VENV}/bin/st"
if ! "$st" --version 2>/dev/null | grep -qF "version ${SCHEMATHESIS_VERSION}"; then
    echo "installing schemathesis ${SCHEMATHESIS_VERSION} into ${VENV}" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
    "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
fi

args=(
    run "$SPEC"
    --url "$api_url"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
    --max-examples "$MAX_EXAMPLES"
    # `/logs/tail` is a server-sent-event stream that never ends: a request to it only times out.
    --exclude-operation-id tailLogs
    --request-timeout 30
    --generation-database "${VENV}/examples.db"
    --report junit
    --report-dir "$REPORT_DIR"
)
if [[ -n "${API_KEY:-}" ]]; then
    args+=(--header "Authorization: Bearer ${API_KEY}")
fi

exec "$st" "${args[@]}" "$@"
