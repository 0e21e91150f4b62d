# Stage: the wait page in headless Chromium (tests/browser/wait_page.mjs) against the example
# wake server over a temporary SQLite store: progress through the steps as the status changes,
# redirect when Ready, Failed + Try again, token cookie, the no-JavaScript refresh, a group of
# two (web waits for api before its visitors are sent on).
# Screenshots: target/screenshots/wait-page-{light,dark,failed,nojs,off,group}.png.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"
ensure_apt chromium /usr/bin/chromium
command -v node >/dev/null || ensure_apt nodejs node
command -v npm >/dev/null || ensure_apt npm npm
build_local
# npm ci only when the lock file changed since the last install (shared with stage 31).
stamp="tests/browser/node_modules/.installed-$(sha256sum tests/browser/package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
timeout 300 node tests/browser/wait_page.mjs
