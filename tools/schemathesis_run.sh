#!/usr/bin/env bash
# Fuzz every operation of the API against its own OpenAPI schema (schemathesis), on a live
# server on loopback: a fresh PostgreSQL database, the demo tenant seeded, an admin token,
# gunicorn. Prints operations / examples / server errors / schema violations and exits
# non-zero on any 5xx or violation (docs/api.md, "Fuzzing: schemathesis").
#
#   tools/schemathesis_run.sh            # seed 20261206, 20 examples per operation
#   SEED=1 MAX_EXAMPLES=50 tools/schemathesis_run.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust, like the test suite). Everything it writes
# (database, var dir, reports) is its own; the database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-20261206}
MAX_EXAMPLES=${MAX_EXAMPLES:-20}
DB=${SCHEMATHESIS_DB:-fixops_schemathesis_$$}
PG=${SCHEMATHESIS_PG:-postgres://postgres@127.0.0.1:5432}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fixops-schemathesis.XXXXXX")
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REPORT=${SCHEMATHESIS_REPORT:-var/schemathesis}

# Production error handling (JSON 404/500 under /api/, no debug pages), development secrets.
export FIXOPS_ENV=development DEBUG=false
export SECRET_KEY="schemathesis-$SEED-not-a-secret-$$" ALLOWED_HOSTS=127.0.0.1
export FIXOPS_ENCRYPTION_KEYS=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export DATABASE_URL="$PG/$DB" FIXOPS_VAR_DIR="$WORK/var" CACHE_URL="locmemcache://schemathesis"
export CELERY_BROKER_URL="filesystem://" FIXOPS_EVIDENCE_DIR="$WORK/evidence"
# The fuzzer is one client sending thousands of requests: the per-credential limits would
# answer most of them with 429 and test nothing else. 429 stays documented and is tested
# in tests/fixops/test_throttling.py.
export FIXOPS_API_RATE="100000/min" FIXOPS_TENANT_RATE="100000/min" FIXOPS_UPLOAD_RATE="100000/min"

psql() { "$PY" - "$@" <<'EOF'
import sys, psycopg
url, sql = sys.argv[1], sys.argv[2]
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute(sql)
EOF
}

server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  psql "$PG/postgres" "DROP DATABASE IF EXISTS \"$DB\"" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG/postgres" "DROP DATABASE IF EXISTS \"$DB\""
psql "$PG/postgres" "CREATE DATABASE \"$DB\""
DEBUG=true "$PY" manage.py rotate_evidence_keys --generate-signing-key "$WORK/evidence.pem" \
  >>"$WORK/setup.log" 2>&1
export FIXOPS_EVIDENCE_SIGNING_KEY="$WORK/evidence.pem"
"$PY" manage.py migrate --noinput >>"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; exit 1; }
"$PY" manage.py load_demo --base-url "http://127.0.0.1:$PORT" >>"$WORK/setup.log" 2>&1 \
  || { cat "$WORK/setup.log"; exit 1; }
TOKEN=$("$PY" manage.py issue_token --tenant demo --name schemathesis --role admin 2>>"$WORK/setup.log")
# Tokens read fxo_<prefix>_<secret>; the hooks keep the fuzzer from revoking its own.
export FIXOPS_ST_TOKEN_PREFIX=$(cut -d_ -f2 <<<"$TOKEN") SCHEMATHESIS_HOOKS=tools.schemathesis_hooks

# --limit-request-line 0: the fuzzer's longest query strings pass gunicorn (which would
# answer them 414 in HTML before the application) and reach the API the schema describes.
"$PY" -m gunicorn fixops.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --timeout 60 --limit-request-line 0 >"$WORK/server.log" 2>&1 &
server=$!
for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

# The schema may need authentication (FIXOPS_PUBLIC_API_DOCS): fetch it with the token.
curl -fsS -H "Authorization: Bearer $TOKEN" -H "Accept: application/json" \
  "http://127.0.0.1:$PORT/api/schema/" -o "$WORK/schema.json"

mkdir -p "$REPORT"
setup_seconds=$SECONDS
# Two schemathesis processes, one per half of the operations: its own --workers N runs
# generation in threads, which trips a CPython 3.11.7 bug ("AST constructor recursion depth
# mismatch") and aborts an operation; processes share nothing, and halve the wall time.
SHARDS=("^/api/v1/(acceptances|applications|audit|decisions|evidence|findings|me)/"
        "^/api/v1/(integrations|outbox|policies|policy-assignments|scans|streams|tokens)/")
pids=()
for i in "${!SHARDS[@]}"; do
  "$PY" -m schemathesis.cli run "$WORK/schema.json" \
    --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $TOKEN" \
    --include-path-regex "${SHARDS[$i]}" \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --no-shrink \
    --phases examples,coverage,fuzzing \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --suppress-health-check all --workers 1 --request-timeout 30 \
    --report junit,ndjson --report-dir "$REPORT" --report-ndjson-path "$REPORT/report-$i.ndjson" \
    --report-junit-path "$REPORT/junit-$i.xml" --output-truncate true \
    >"$REPORT/output-$i.txt" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for i in "${!SHARDS[@]}"; do
  echo "--- schemathesis ${SHARDS[$i]}"
  sed -n '/^=* *FAILURES\|^=* *SUMMARY/,$p' "$REPORT/output-$i.txt" | tail -n 40
done
"$PY" tools/schemathesis_summary.py "$REPORT"/report-*.ndjson || status=1
echo "seed $SEED, $MAX_EXAMPLES examples per operation; set-up ${setup_seconds}s, fuzzing $((SECONDS - setup_seconds))s"
if grep -q "Traceback" "$WORK/server.log"; then
  echo "server tracebacks (first ones):"; grep -B2 -A25 "Traceback" "$WORK/server.log" | head -120
fi
exit "$status"
