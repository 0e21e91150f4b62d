# Stage: the wake endpoint's OpenAPI document (infra/api/openapi.yaml) is valid
# (openapi-spec-validator), and schemathesis finds no disagreement between it and the real
# handler, served by the example wake server over a temporary SQLite store on 127.0.0.1.
# Bounded: a few examples per operation and a time budget. (The route-set equality of the
# document and the router is a Rust test: controller/tests/wake_http.rs.)
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"
venv=$(ensure_venv openapi 'schemathesis==4.32.5' 'openapi-spec-validator==0.7.2')
"$venv/bin/openapi-spec-validator" infra/api/openapi.yaml

build_local
work=$(mktemp -d)
log="$work/server.log"
# wait=N is capped at 2 s here so generated waits stay short (the document allows up to 25).
SNOOZE_WAKE_MAX_WAIT=2s SNOOZE_DEFAULT_SERVICE=demo RUST_LOG=warn \
  target/debug/examples/wake_server serve --db "$work/snooze.db" --seed >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening ' "$log" && break
  sleep 0.1
done
url=$(sed -n 's/^listening //p' "$log" | head -1)
[ -n "$url" ] || { cat "$log" >&2; echo "wake_server did not start" >&2; exit 1; }
log "schemathesis against $url"
# positive_data_acceptance is excluded: a schema-valid name that is not a stored record is
# rightly 404, and a schema-valid ?wait above the server's cap is rightly 400.
timeout 300 "$venv/bin/schemathesis" run infra/api/openapi.yaml \
  --url "$url" \
  --checks all --exclude-checks positive_data_acceptance,ignored_auth \
  --phases examples,coverage,fuzzing \
  --max-examples 25 --max-time 40 --workers 2 \
  --request-timeout 10 --max-redirects 0 \
  --suppress-health-check all \
  --seed 42
