# Stage: the demo app in headless Chromium (tests/browser/demo_app.mjs): dashboard, theme
# toggle remembered across reloads, an action's log line over SSE, screenshots in
# target/screenshots/demo-app-{light,dark}.png.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"
ensure_apt chromium chromium
command -v node >/dev/null || ensure_apt nodejs node
command -v npm >/dev/null || ensure_apt npm npm
build_local
# npm ci only when the lock file changed since the last install.
stamp="tests/browser/node_modules/.installed-$(sha256sum tests/browser/package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
node tests/browser/demo_app.mjs
