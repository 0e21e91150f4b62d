// Headless Chromium against the whole local loop: `snoozectl dev` started on a free port with
// a temporary store and a manifest running the real demo app (idleTimeout 1m, the validated
// minimum). Open the wake URL → the wait page shows progress → redirected to the demo app →
// dashboard renders, theme toggle works, SSE log lines arrive, an action button works → close
// the page → after the idle timeout the app process is gone and `snoozectl get` shows Asleep →
// a new visit wakes it again. Screenshots: target/screenshots/dev-stack-{wait,dashboard}.png.
//
//   cargo build -p snooze --bin snoozectl -p snooze-demo-app && (cd tests/browser && npm ci)
//   node tests/browser/dev_stack.mjs
//
// Env: CARGO_TARGET_DIR (default target/), CHROMIUM (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TARGET, launch, shotsDir, stepLogger, watchProblems } from './lib.mjs';

const SNOOZECTL = join(TARGET, 'debug', 'snoozectl');
const APP = join(TARGET, 'debug', 'snooze-demo-app');
const DEADLINE_MS = 330_000;
const step = stepLogger('dev_stack');

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** True while process `pid` exists and is not a zombie. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 1).trim().startsWith('Z');
  } catch { return false; }
}

async function until(what, ms, f) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

async function main() {
  for (const bin of [SNOOZECTL, APP]) assert.ok(existsSync(bin), `${bin} missing (cargo build -p snooze --bin snoozectl -p snooze-demo-app)`);
  const work = mkdtempSync(join(tmpdir(), 'snooze-dev-stack-'));
  const [listen, appPort] = [await freePort(), await freePort()];
  const store = `sqlite://${work}/dev.db`;
  mkdirSync(join(work, 'manifests'));
  // The app starts 2 s late so the wait page has progress to show; it writes its pid.
  writeFileSync(join(work, 'manifests', 'demo.yaml'), `apiVersion: snooze/v1
kind: Service
metadata: {name: demo}
spec:
  target:
    local:
      command: sh
      args: ["-c", "echo $$ > app.pid; sleep 2; exec \\"$APP\\""]
      env: {APP: "${APP}", APP_NAME: "snooze demo", APP_ENV: dev-stack, SSE_KEEPALIVE: 2s, HEARTBEAT_INTERVAL: 3s}
      port: ${appPort}
  idleTimeout: 1m
  wakeTimeout: 1m
  endpoint: {port: ${appPort}, path: /}
  readiness:
    httpGet: {path: /health, timeout: 2s}
  page: {title: Demo app}
`);
  const dev = spawn(SNOOZECTL, ['--store', store, 'dev', '--manifests', 'manifests', '--listen', `127.0.0.1:${listen}`],
    { cwd: work, env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  createInterface({ input: dev.stdout }).on('line', (l) => { lines.push(l); console.log(`  [dev] ${l}`); });
  const base = `http://127.0.0.1:${listen}`;
  const appUrl = `http://127.0.0.1:${appPort}/`;
  const pid = () => { try { return Number(readFileSync(join(work, 'app.pid'), 'utf8').trim()); } catch { return 0; } };
  const get = () => execFileSync(SNOOZECTL, ['--store', store, 'get'], { encoding: 'utf8' });
  let browser;
  try {
    await until('the stack to print its URL', 20_000, () => lines.some((l) => l.includes(`open ${base}/s/demo`)));
    await until('demo Asleep', 20_000, () => /^demo\s+Asleep/m.test(get()));
    step('stack up, demo Asleep');

    // 1. The wake URL: the wait page shows progress, then the app.
    browser = await launch({ colorScheme: 'light' });
    let { page } = browser;
    let problems = watchProblems(page);
    const resp = await page.goto(`${base}/s/demo`);
    assert.equal(resp.status(), 200, 'the wait page');
    assert.equal(await page.locator('h1').textContent(), 'Demo app is waking up');
    await page.waitForSelector('ol.steps li.current[data-step="pending"]', { timeout: 15_000 });
    assert.ok((await page.locator('ol.steps li.done').count()) >= 2, 'earlier steps are marked done');
    await page.screenshot({ path: join(shotsDir(), 'dev-stack-wait.png'), fullPage: true });
    step('wait page at step pending; screenshot taken');
    await page.waitForURL(appUrl, { timeout: 30_000 });
    step(`redirected to ${page.url()}`);

    // 2. The dashboard: renders, SSE live, theme toggle, an action's log line.
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    assert.equal(await page.textContent('h1'), 'snooze demo');
    assert.equal((await page.textContent('#app-env')).trim(), 'dev-stack');
    await page.waitForSelector('#log .log-line .badge.src-heartbeat', { timeout: 10_000 });
    const before = await page.getAttribute('html', 'data-theme');
    await page.click('#theme-toggle');
    const after = await page.getAttribute('html', 'data-theme');
    assert.notEqual(after, before, 'the theme toggle switches');
    await page.click('#theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), before);
    const lastSeq = await page.$eval('#log', (el) => Number(el.lastElementChild?.dataset.seq ?? 0));
    await page.click('button[data-action="deploy"]');
    await page.waitForFunction((seq) => [...document.querySelectorAll('#log .log-line')].some(
      (li) => Number(li.dataset.seq) > seq && li.querySelector('.msg').textContent.startsWith('deploy: ')), lastSeq, { timeout: 5_000 });
    await page.waitForSelector('#action-result[data-state="ok"]');
    await page.waitForTimeout(1_700); // let the new-line flash settle
    await page.screenshot({ path: join(shotsDir(), 'dev-stack-dashboard.png'), fullPage: true });
    assert.deepEqual(problems, [], 'no console errors on the wait page or the dashboard');
    assert.match(get(), /^demo\s+Ready/m);
    const appPid = pid();
    assert.ok(appPid > 0 && alive(appPid), 'the app process runs');
    step('dashboard works (theme, SSE, action); screenshot taken');

    // 3. Close the page: after the idle timeout the app is gone and the record Asleep.
    await browser.close();
    browser = undefined;
    const closed = Date.now();
    await until('demo Asleep after the idle timeout', 120_000, () => /^demo\s+Asleep/m.test(get()));
    const idle = (Date.now() - closed) / 1000;
    step(`Asleep ${idle.toFixed(0)} s after the page closed`);
    assert.ok(idle >= 30, `not asleep before the idle timeout (${idle} s)`);
    await until('the app process to exit', 10_000, () => !alive(appPid));
    // The line is printed after the pass that published the status: wait for it too.
    await until('a transition line for the sleep', 10_000,
      () => lines.some((l) => /demo\s+Ready → (Sleeping|Asleep)/.test(l)));

    // 4. A new visit wakes it again.
    browser = await launch({ colorScheme: 'dark' });
    ({ page } = browser);
    problems = watchProblems(page);
    await page.goto(`${base}/s/demo`);
    await page.waitForURL(appUrl, { timeout: 30_000 });
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    assert.ok(pid() !== appPid && alive(pid()), 'a new app process');
    assert.deepEqual(problems, []);
    step('a new visit woke it again');
  } finally {
    if (browser) await browser.close();
    const code = await new Promise((done) => {
      if (dev.exitCode !== null) return done(dev.exitCode);
      const t = setTimeout(() => { dev.kill('SIGKILL'); done('killed'); }, 15_000);
      dev.once('exit', (c, s) => { clearTimeout(t); done(c ?? s); });
      dev.kill('SIGTERM');
    });
    step(`snoozectl dev exited with ${code}`);
    const last = pid();
    rmSync(work, { recursive: true, force: true });
    assert.equal(code, 0, 'snoozectl dev exits 0 on SIGTERM');
    assert.ok(!last || !alive(last), 'no app process outlives snoozectl dev');
  }
}

const guard = setTimeout(() => { console.error(`dev_stack: timed out after ${DEADLINE_MS / 1000} s`); process.exit(1); }, DEADLINE_MS);
main().then(
  () => { clearTimeout(guard); step('passed'); },
  (e) => { clearTimeout(guard); console.error(e); process.exit(1); },
);
