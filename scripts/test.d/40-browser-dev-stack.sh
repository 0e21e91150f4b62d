# Stage: the whole local loop in headless Chromium, route mode (tests/browser/dev_stack.mjs):
# `snoozectl dev` on a free port with a temporary store serves records with a stable address
# (`routing: {mode: route, host: NAME.localhost}`) by Host header. demo is a group of two like
# manifests/local/demo.yaml (demo dependsOn demo-api, the app with APP_ROLE=api):
# http://demo.localhost:PORT/ shows the wait page while status.group lists demo-api (wave 0) and
# demo (wave 1), then the same URL (never a redirect) is the proxied dashboard (theme, SSE,
# action; its API card shows demo-api's greeting), demo-api Ready before demo's process started;
# /s/demo answers 302 to it; an unknown host is a 404 → page closed → Asleep after the
# 1m idle timeout, process gone → the same URL wakes it again. Meanwhile: slow (app up after 45 s)
# opened by 6 visitors at once prints `route→page moved: p50/p99/max` against status.route.since
# (asserts max < 3 s); echo checks X-Forwarded-Host. Screenshots:
# target/screenshots/dev-stack-{wait,dashboard}.png. About 2 min.
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
