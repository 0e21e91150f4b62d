# Stage: the whole local loop in headless Chromium (tests/browser/dev_stack.mjs): `snoozectl dev`
# on a free port with a temporary store runs the demo app; wait page → redirect → dashboard
# (theme, SSE, action) → page closed → Asleep after the 1m idle timeout, process gone → a new
# visit wakes it. Screenshots: target/screenshots/dev-stack-{wait,dashboard}.png. About 2 min.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"
ensure_apt chromium chromium
command -v node >/dev/null || ensure_apt nodejs node
command -v npm >/dev/null || ensure_apt npm npm
build_local
# npm ci only when the lock file changed since the last install (shared with stages 30, 31).
stamp="tests/browser/node_modules/.installed-$(sha256sum tests/browser/package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
timeout 400 node tests/browser/dev_stack.mjs
