// Headless Chromium against the real demo app binary (snooze-demo-app):
// the dashboard renders with no console or CSP errors, the theme toggle switches and is
// remembered after a reload, an action button's log line arrives over SSE (in a second tab
// too), and screenshots of both themes land in target/screenshots/demo-app-{light,dark}.png.
//
//   cargo build -p snooze-demo-app && (cd tests/browser && npm ci) && node tests/browser/demo_app.mjs
//
// Env: DEMO_APP_BIN (default $CARGO_TARGET_DIR or target/, then debug/snooze-demo-app),
//      CHROMIUM (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
const BIN = process.env.DEMO_APP_BIN || join(TARGET, 'debug', 'snooze-demo-app');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'target', 'screenshots');
const DEADLINE_MS = 90_000;

const t0 = Date.now();
const step = (msg) => console.log(`[demo_app +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

/** Starts the binary on a free port; resolves with { child, url } once it logs `listening`. */
function startApp() {
  assert.ok(existsSync(BIN), `demo app binary not found at ${BIN} (cargo build -p snooze-demo-app)`);
  let sha = 'unknown';
  try { sha = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
  const env = {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_FORMAT: 'json',
      APP_NAME: 'snooze demo',
      APP_ENV: 'dev',
      GIT_SHA: sha,
      HEARTBEAT_INTERVAL: '3s',
      SSE_KEEPALIVE: '2s',
  };
  delete env.ECS_CONTAINER_METADATA_URI_V4;
  const child = spawn(BIN, [], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('the app did not log `listening` within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`the app exited early with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let rec;
      try { rec = JSON.parse(line); } catch { return; }
      if (rec.message === 'listening') {
        clearTimeout(timer);
        resolveUrl({ child, url: `http://${rec.addr}` });
      }
    });
  });
}

/** Clicks an action button and waits for its entry (newer than any shown) in the log panel. */
async function fireAndAwaitLine(page, action) {
  const lastSeq = await page.$eval('#log', (el) => Number(el.lastElementChild?.dataset.seq ?? 0));
  await page.click(`button[data-action="${action}"]`);
  await page.waitForFunction(
    ([a, seq]) => [...document.querySelectorAll('#log .log-line')].some(
      (li) => Number(li.dataset.seq) > seq && li.querySelector('.msg').textContent.startsWith(a + ': ')),
    [action, lastSeq],
    { timeout: 5_000 },
  );
}

function stopApp(child) {
  return new Promise((done) => {
    if (child.exitCode !== null) return done(child.exitCode);
    const timer = setTimeout(() => { child.kill('SIGKILL'); done('killed after 5 s'); }, 5_000);
    child.once('exit', (code, signal) => { clearTimeout(timer); done(code ?? signal); });
    child.kill('SIGTERM');
  });
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const { child, url } = await startApp();
  step(`app listening on ${url}`);
  const profile = mkdtempSync(join(tmpdir(), 'snooze-demo-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });

    // 1. The dashboard renders, with the figures and the live stream connected.
    const response = await page.goto(url + '/');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    assert.equal(await page.textContent('h1'), 'snooze demo');
    assert.equal((await page.textContent('#app-env')).trim(), 'dev');
    for (const id of ['uptime', 'rss', 'sysmem', 'load', 'cpus', 'hostname']) {
      const text = (await page.textContent(`#${id}`)).trim();
      assert.ok(text && text !== 'n/a', `#${id} shows a value (got "${text}")`);
    }
    assert.equal(await page.locator('button[data-action]').count(), 6);
    assert.ok((await page.locator('#log .log-line').count()) >= 1, 'the snapshot filled the log');
    const barWidth = await page.$eval('#sysmem-bar', (el) => el.style.width);
    assert.match(barWidth, /^\d+%$/, 'the memory bar was sized by the script');
    step('dashboard rendered, SSE live');

    // 2. An action's log line arrives over SSE, here and in a second tab.
    const other = await context.newPage();
    await other.goto(url + '/');
    await other.waitForSelector('#live[data-state="live"]');
    await fireAndAwaitLine(page, 'deploy');
    await page.waitForSelector('#action-result[data-state="ok"]');
    assert.match(await page.textContent('#action-result'), /^deployed .* as release #1$/);
    await other.waitForSelector('#log .log-line >> text=/deploy: deployed .* release #1/', { timeout: 5_000 });
    step('deploy logged in both tabs over SSE');
    for (const a of ['scale-up', 'scale-up', 'rotate-keys', 'clear-cache', 'scale-down', 'p95-report']) {
      await fireAndAwaitLine(page, a);
    }
    await other.close();
    // A heartbeat entry (HEARTBEAT_INTERVAL=3s) arrives without any action.
    await page.waitForSelector('#log .log-line .badge.src-heartbeat', { timeout: 10_000 });
    step('actions and heartbeat logged');

    // 3. Light theme (the browser prefers light and nothing is stored yet).
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await page.waitForTimeout(1_700); // let the new-line flash animation settle
    await page.screenshot({ path: join(SHOTS, 'demo-app-light.png'), fullPage: true });
    const lightBg = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());

    // 4. The toggle switches to dark and the choice survives a reload.
    await page.click('#theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await page.getAttribute('#theme-toggle', 'aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => localStorage.getItem('snooze-demo-theme')), 'dark');
    const darkBg = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());
    assert.notEqual(darkBg, lightBg, 'the background changes with the theme');
    await page.reload();
    await page.waitForSelector('#live[data-state="live"]');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark', 'dark is remembered after reload');
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(SHOTS, 'demo-app-dark.png'), fullPage: true });
    step('theme toggled and remembered; screenshots taken');

    // 5. Back to light, remembered too.
    await page.click('#theme-toggle');
    await page.reload();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');

    assert.deepEqual(problems, [], 'no console errors, CSP violations or failed requests');
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
    const exit = await stopApp(child);
    step(`app stopped (exit ${exit})`);
    assert.equal(exit, 0, 'the app exits 0 on SIGTERM');
  }
}

const guard = setTimeout(() => { console.error(`demo_app: timed out after ${DEADLINE_MS / 1000} s`); process.exit(1); }, DEADLINE_MS);
main().then(
  () => { clearTimeout(guard); step(`passed; screenshots in ${SHOTS}`); },
  (e) => { clearTimeout(guard); console.error(e); process.exit(1); },
);
