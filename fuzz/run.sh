#!/usr/bin/env bash
# Fuzz the running service from its own OpenAPI document for a bounded time;
# fail on any 5xx or any answer that breaks the declared responses.
#   usage: fuzz/run.sh DATABASE_URL [SECONDS]
# The database must be empty or migrated; it is migrated here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
database_url=$1
seconds=${2:-60}
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)

export DATABASE_URL=$database_url
export SECRET_KEY=fuzzing-secret-key-0123456789-abcdefghijklmnop
export ENVIRONMENT=test BCRYPT_ROUNDS=4
# Throttling stays on, with limits no fuzzer reaches: its code paths run, its 429s do not hide the rest.
export SIGNUP_LIMIT_PER_ADDRESS=1000000/minute REFRESH_LIMIT_PER_ADDRESS=1000000/minute
export LOGIN_LIMIT_PER_ADDRESS=1000000/minute LOGIN_LIMIT_PER_ACCOUNT=1000000/minute
export LOGIN_LIMIT_PER_ACCOUNT_ADDRESS=1000000/minute
export FORGOT_LIMIT_PER_ADDRESS=1000000/minute FORGOT_LIMIT_PER_ACCOUNT=1000000/minute
export VERIFY_LIMIT_PER_ACCOUNT=1000000/minute

"$PY" -m service migrate
"$PY" -m uvicorn --factory service.main:create_app --host 127.0.0.1 --port "$port" \
  --no-access-log >"$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done

status=0
FUZZ_BASE_URL="http://127.0.0.1:$port" SCHEMATHESIS_HOOKS=fuzz.hooks \
  "$PY" -m schemathesis.cli run "http://127.0.0.1:$port/openapi.json" \
  --max-time "$seconds" --workers 2 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --suppress-health-check all \
  --report junit --report-dir "$workdir" || status=$?
if grep -q -E "Traceback|unhandled error" "$workdir/server.log"; then
  echo "fuzz: the server logged an unhandled error:" >&2
  grep -E -A20 "Traceback|unhandled error" "$workdir/server.log" | head -60 >&2
  status=1
fi
exit $status
