# Stage: the documentation says what the code does (scripts/gen-docs).
#   1. the generated references (docs/reference/record.md, cli.md, http-api.md) are not stale:
#      regenerated into a temp dir and diffed against the committed files
#   2. every relative link (and #anchor) in docs/ and README.md resolves
#   3. every environment variable the code reads is documented in docs/reference/env.md
#   4. the documented local commands run: each ```sh block marked <!-- test --> in the operator
#      guide and the README, in order, against a fresh temp SQLite store, with its documented
#      output compared (timestamps and durations normalised); each block has a 60 s limit
#   (after checking that the ports the walkthrough documents, 18181, 8081 and 8082, are free)
# Every step runs even when an earlier one failed; the stage fails if any did.
set -uo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"

failed=()
step() { # step NAME COMMAND...
  local name=$1 t0; shift
  t0=$(date +%s)
  log "docs: $name"
  if "$@"; then
    log "docs: $name passed in $(( $(date +%s) - t0 ))s"
  else
    log "docs: $name FAILED in $(( $(date +%s) - t0 ))s"
    failed+=("$name")
  fi
}

build_local || exit 1
CTL="${CARGO_TARGET_DIR:-$SNOOZE_ROOT/target}/debug/snoozectl"

step "generated references are current" scripts/gen-docs --snoozectl "$CTL" check
step "relative links resolve" scripts/gen-docs links
step "env vars are documented" scripts/gen-docs env
docs_with_tests=()
for f in docs/operator-guide.md README.md; do
  [ -f "$f" ] && grep -q '^<!-- test' "$f" && docs_with_tests+=("$f")
done
if [ ${#docs_with_tests[@]} -eq 0 ]; then
  log "docs: no <!-- test --> blocks found in docs/operator-guide.md or README.md"
  failed+=("documented commands")
else
  # The guide's local-stack walkthrough uses the ports it documents: the wake endpoint on
  # 18181 and the demo group on 8081 (the dashboard) and 8082 (its API). Say so at once when
  # something (often `scripts/dev`) holds one, instead of a 90 s timeout.
  ports_free() {
    local port busy=0
    for port in 18181 8081 8082; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port on 127.0.0.1 is in use (a running scripts/dev?); the documented walkthrough needs it free" >&2
        busy=1
      fi
    done
    return $busy
  }
  step "documented ports are free" ports_free
  step "documented commands run" scripts/gen-docs --snoozectl "$CTL" snippets "${docs_with_tests[@]}"
fi

if [ ${#failed[@]} -gt 0 ]; then
  log "docs: failed: ${failed[*]}"
  exit 1
fi
