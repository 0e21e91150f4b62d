// Headless Chromium against the whole local loop in route mode: `snoozectl dev` started on a
// free port with a temporary store and manifests whose records have a stable address
// (`routing: {mode: route, host: NAME.localhost}`), served by the `Host` header on the same port.
//
//  1. demo (the real demo app, idleTimeout 1m) is a group of two, like manifests/local/demo.yaml:
//     it depends on demo-api (the same binary with APP_ROLE=api, 2 s late to start, no address of
//     its own; both in group demo) and shows its greeting (API_URL). Open
//     http://demo.localhost:PORT/ → the wait page shows progress, and the record's status.group
//     (`snoozectl get demo -o json`) lists both members in start order → the same URL, reloaded,
//     is the dashboard reverse-proxied to the app (every main-frame navigation stays on that one
//     URL, every request on its origin), its API card showing demo-api's greeting: theme toggle,
//     SSE log lines through the proxy, an action button. Both records Ready, demo-api Ready
//     before the dashboard's process started (its status.lastWake.readyAt against the time the
//     dashboard's process wrote at start) and before demo (the stack's log order).
//     `/s/demo` on 127.0.0.1:PORT answers 302 to the stable address; an unknown host
//     (nothing.localhost) is a 404 that names no record.
//  2. While demo's idle timeout runs: slow (the demo app behind `sleep 45`) opened by K=6
//     visitors at once (one browser context each); for each, when its dashboard document arrived
//     (Navigation Timing of that document) against `status.route.since` (when the reconciler
//     pointed the address at the service). Prints `route→page moved: p50 … ms, p99 … ms, max … ms
//     over 6 pages (wake took … s)`; asserts max < 3 s only (the target 0.5 s is reported).
//  3. echo (a node server printing the request it got): the proxied request carries
//     X-Forwarded-Host and the original path and query.
//  4. demo's page closed → after the idle timeout the app process is gone, `snoozectl get` shows
//     Asleep and the address points at the wake page again → the same URL wakes it again (wait
//     page, then dashboard with the API's greeting).
// Screenshots: target/screenshots/dev-stack-{wait,dashboard}.png.
//
//   cargo build -p snooze --bin snoozectl -p snooze-demo-app && (cd tests/browser && npm ci)
//   node tests/browser/dev_stack.mjs
//
// Env: CARGO_TARGET_DIR (default target/), CHROMIUM (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TARGET, launch, launchBrowser, shotsDir, stepLogger, watchProblems } from './lib.mjs';

const SNOOZECTL = join(TARGET, 'debug', 'snoozectl');
const APP = join(TARGET, 'debug', 'snooze-demo-app');
const DEADLINE_MS = 330_000;
/** Visitors opening the slow service at once. */
const K = 6;
/** The slow service's start-up delay (seconds) before its app listens. */
const SLOW_START_S = 45;
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

/**
 * GET `path` from 127.0.0.1:`port` with the `Host` header `host` (node's fetch does not let a
 * caller set Host); no redirects followed. Resolves with { status, headers, body }.
 */
function httpGet(port, host, path, timeoutMs = 5_000) {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: { Host: host, Accept: 'text/html' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', fail);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET http://${host}${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

/** Milliseconds since the epoch of an RFC 3339 timestamp, keeping sub-millisecond digits. */
function epochMs(ts) {
  const m = /^(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts ?? '');
  assert.ok(m, `not an RFC 3339 timestamp: ${ts}`);
  return Date.parse(m[1] + m[3]) + (m[2] ? Number(m[2]) * 1000 : 0);
}

/** The main frame's navigations of `page` as { url, at } (node's Date.now() on framenavigated). */
function recordNavigations(page) {
  const navs = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navs.push({ url: f.url(), at: Date.now() }); });
  return navs;
}

/** Nearest-rank percentile of ascending `xs`. */
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];

async function main() {
  for (const bin of [SNOOZECTL, APP]) assert.ok(existsSync(bin), `${bin} missing (cargo build -p snooze --bin snoozectl -p snooze-demo-app)`);
  const work = mkdtempSync(join(tmpdir(), 'snooze-dev-stack-'));
  const [listen, appPort, apiPort, slowPort, echoPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const store = `sqlite://${work}/dev.db`;
  mkdirSync(join(work, 'manifests'));
  // `host` null: no stable address (redirect mode).
  const manifest = (name, host, target, extra = '') => writeFileSync(join(work, 'manifests', `${name}.yaml`), `apiVersion: snooze/v1
kind: Service
metadata: {name: ${name}}
spec:
  target:
    local:
${target.replace(/^\n/, "").trimEnd()}
${host ? `  routing: {mode: route, host: ${host}}\n` : ''}  idleTimeout: 1m
  endpoint: {port: ${target.match(/port: (\d+)/)[1]}, path: /}
  readiness:
    httpGet: {path: /health, timeout: 2s}
${extra}`);
  // demo starts 2 s late so the wait page has progress to show; it writes its pid and when it
  // started (ms since the epoch). It depends on demo-api, in group demo, and shows its greeting.
  manifest('demo', 'demo.localhost', `
      command: sh
      args: ["-c", "echo $$ > app.pid; date +%s%3N > app.started; sleep 2; exec \\"$APP\\""]
      env: {APP: "${APP}", APP_NAME: "snooze demo", APP_ENV: dev-stack, SSE_KEEPALIVE: 2s, HEARTBEAT_INTERVAL: 3s, API_URL: "http://127.0.0.1:${apiPort}"}
      port: ${appPort}`, '  wakeTimeout: 1m\n  page: {title: Demo app}\n  groups: [demo]\n  dependsOn: [demo-api]\n');
  // demo-api: the same binary as the API, 2 s late, so demo visibly waits for it; no address.
  manifest('demo-api', null, `
      command: sh
      args: ["-c", "echo $$ > api.pid; sleep 2; exec \\"$APP\\""]
      env: {APP: "${APP}", APP_ROLE: api, APP_NAME: "snooze demo API", APP_ENV: dev-stack}
      port: ${apiPort}`, '  wakeTimeout: 1m\n  groups: [demo]\n');
  // slow: the same app ${SLOW_START_S} s late, for the route→page latency of K visitors.
  manifest('slow', 'slow.localhost', `
      command: sh
      args: ["-c", "echo $$ > slow.pid; sleep ${SLOW_START_S}; exec \\"$APP\\""]
      env: {APP: "${APP}", APP_NAME: "slow demo", APP_ENV: route-latency, SSE_KEEPALIVE: 2s}
      port: ${slowPort}`, '  wakeTimeout: 2m\n  page: {title: Slow app}\n');
  // echo: answers every request with what it received (method, url, headers) as JSON.
  writeFileSync(join(work, 'echo.mjs'), `import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(join(work, 'echo.pid'))}, String(process.pid));
createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ echo: true, method: req.method, url: req.url, headers: req.headers }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`);
  manifest('echo', 'echo.localhost', `
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(join(work, 'echo.mjs'))}]
      port: ${echoPort}`, '  wakeTimeout: 1m\n');

  const dev = spawn(SNOOZECTL, ['--store', store, 'dev', '--manifests', 'manifests', '--listen', `127.0.0.1:${listen}`],
    { cwd: work, env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  createInterface({ input: dev.stdout }).on('line', (l) => { lines.push(l); console.log(`  [dev] ${l}`); });
  const base = `http://127.0.0.1:${listen}`;
  const demoUrl = `http://demo.localhost:${listen}/`;
  const slowUrl = `http://slow.localhost:${listen}/`;
  const pidOf = (file) => () => { try { return Number(readFileSync(join(work, file), 'utf8').trim()); } catch { return 0; } };
  const pid = pidOf('app.pid');
  const get = () => execFileSync(SNOOZECTL, ['--store', store, 'get'], { encoding: 'utf8' });
  const record = (name) => JSON.parse(execFileSync(SNOOZECTL, ['--store', store, 'get', name, '-o', 'json'], { encoding: 'utf8' }));
  let browser;
  try {
    await until('the stack to print the stable addresses', 20_000, () => ['demo', 'slow', 'echo'].every(
      (n) => lines.some((l) => l.includes(`open http://${n}.localhost:${listen}/ `))));
    assert.deepEqual(lines.filter((l) => l.includes(`${base}/s/`)).map((l) => l.trim().split(/\s+/)[1]), [`${base}/s/demo-api`],
      'route-mode records print their stable address, not /s/NAME; demo-api (no address) its /s/ link');
    await until('demo, demo-api, slow and echo Asleep', 20_000, () => ['demo', 'demo-api', 'slow', 'echo'].every((n) => new RegExp(`^${n}\\s+Asleep`, 'm').test(get())));
    step('stack up, demo, demo-api, slow and echo Asleep');
    const unknown = await httpGet(listen, `nothing.localhost:${listen}`, '/');
    assert.equal(unknown.status, 404, 'an unknown host is a 404');
    assert.doesNotMatch(unknown.body, /demo|slow|echo/i, 'the 404 page names no record');
    step('nothing.localhost: 404 naming no record');

    // 1. The stable address: the wait page shows progress, then the same URL is the app.
    browser = await launch({ colorScheme: 'light' });
    let { page } = browser;
    let problems = watchProblems(page);
    let navs = recordNavigations(page);
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    const resp = await page.goto(demoUrl);
    assert.equal(resp.status(), 200, 'the wait page');
    assert.equal(await page.locator('h1').textContent(), 'Demo app is waking up');
    // The group: demo's status lists both members in start order while it waits for demo-api.
    const group = await until('demo\'s status.group', 10_000, () => record('demo').status?.group);
    assert.deepEqual(group.members.map((m) => [m.name, m.wave]), [['demo-api', 0], ['demo', 1]],
      `status.group lists both members in start order: ${JSON.stringify(group)}`);
    assert.deepEqual(record('demo-api').status.group.members.map((m) => m.name), ['demo-api', 'demo'], 'demo-api sees the same group');
    step(`wait page; status.group: ${group.members.map((m) => `${m.name} (wave ${m.wave}, ${m.phase ?? '-'}${m.step ? `/${m.step}` : ''})`).join(', ')}`);
    await page.waitForSelector('ol.steps li.current[data-step="pending"]', { timeout: 15_000 });
    assert.ok((await page.locator('ol.steps li.done').count()) >= 2, 'earlier steps are marked done');
    await page.screenshot({ path: join(shotsDir(), 'dev-stack-wait.png'), fullPage: true });
    step('wait page at step pending; screenshot taken');

    // 2. The dashboard at the same URL: renders, SSE live through the proxy, theme, an action.
    await page.waitForSelector('#live[data-state="live"]', { timeout: 30_000 });
    step(`dashboard at ${page.url()} after ${navs.length} main-frame navigation(s)`);
    assert.equal(page.url(), demoUrl, 'the address bar never changes');
    assert.ok(navs.length >= 2, `the wait page, then the dashboard by a reload (${JSON.stringify(navs)})`);
    assert.deepEqual(navs.map((n) => n.url).filter((u) => u !== demoUrl), [], 'every main-frame navigation is the stable address');
    assert.equal(await page.textContent('h1'), 'snooze demo');
    assert.equal((await page.textContent('#app-env')).trim(), 'dev-stack');
    // The API card: the greeting demo fetched from demo-api (server side) for this page.
    assert.equal(await page.getAttribute('#api', 'data-state'), 'answered', `the API card: ${await page.textContent('#api')}`);
    assert.equal((await page.textContent('#api-greeting')).trim(), 'Hello from snooze demo API');
    assert.match(await page.textContent('#api-served-by'), /^snooze demo API \(pid \d+ on /);
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
    assert.deepEqual(requests.filter((u) => !u.startsWith(demoUrl)), [], 'every request stays on the stable address');
    assert.ok(requests.includes(`${demoUrl}api/logs/stream`), 'the SSE stream goes through the stable address');
    assert.deepEqual(navs.map((n) => n.url).filter((u) => u !== demoUrl), [], 'no navigation elsewhere');
    assert.match(get(), /^demo\s+Ready/m);
    assert.match(get(), /^demo-api\s+Ready/m);
    // Order: demo-api was Ready before the dashboard's process started, and the stack logged
    // demo waiting for it, then demo-api Ready, then demo Ready.
    const api = record('demo-api').status;
    const dashStarted = Number(readFileSync(join(work, 'app.started'), 'utf8').trim());
    assert.ok(api.lastWake?.readyAt, `demo-api has a last wake: ${JSON.stringify(api.lastWake)}`);
    assert.ok(epochMs(api.lastWake.readyAt) <= dashStarted,
      `demo-api Ready (${api.lastWake.readyAt}) before demo's process started (${new Date(dashStarted).toISOString()})`);
    const at = (re) => lines.findIndex((l) => re.test(l));
    const [waiting, apiReady, demoReady] = [
      at(/ demo\s+Asleep → Waking \(wake requested; waiting for demo-api to be Ready\)/),
      at(/ demo-api\s+Waking → Ready/), at(/ demo\s+Waking → Ready/)];
    assert.ok(waiting >= 0 && waiting < apiReady && apiReady < demoReady,
      `log order: demo waiting (${waiting}), demo-api Ready (${apiReady}), demo Ready (${demoReady})`);
    step(`demo-api Ready at ${api.lastWake.readyAt}, demo's process started ${((dashStarted - epochMs(api.lastWake.readyAt)) / 1000).toFixed(2)} s later`);
    const ready = record('demo').status;
    assert.equal(ready.phase, 'Ready');
    assert.equal(ready.route?.to, 'service', `status.route points at the service: ${JSON.stringify(ready.route)}`);
    epochMs(ready.route.since);
    const appPid = pid();
    assert.ok(appPid > 0 && alive(appPid), 'the app process runs');
    step(`dashboard works (theme, SSE, action; ${requests.length} requests, all on ${demoUrl}); route since ${ready.route.since}; screenshot taken`);
    const legacy = await httpGet(listen, `127.0.0.1:${listen}`, '/s/demo');
    assert.equal(legacy.status, 302, '/s/demo of a route-mode record redirects');
    assert.equal(legacy.headers.location, demoUrl, '/s/demo redirects to the stable address');
    step(`/s/demo: 302 to ${legacy.headers.location}`);

    // 3. Close the page; while demo's idle timeout runs, measure slow and check echo.
    await browser.close();
    browser = undefined;
    const closed = Date.now();
    await measureSlow({ slowUrl, record, pid: pidOf('slow.pid') });
    await checkEcho({ listen, record });

    // 4. After the idle timeout demo's app is gone, the record Asleep, the address on the wait page.
    await until('demo Asleep after the idle timeout', Math.max(1_000, closed + 120_000 - Date.now()), () => /^demo\s+Asleep/m.test(get()));
    const idle = (Date.now() - closed) / 1000;
    step(`Asleep ${idle.toFixed(0)} s after the page closed`);
    assert.ok(idle >= 30, `not asleep before the idle timeout (${idle} s)`);
    await until('the app process to exit', 10_000, () => !alive(appPid));
    // The line is printed after the pass that published the status: wait for it too.
    await until('a transition line for the sleep', 10_000,
      () => lines.some((l) => /demo\s+Ready → (Sleeping|Asleep)/.test(l)));
    const asleep = record('demo').status;
    assert.equal(asleep.route?.to, 'wake', `asleep, the address points at the wake page: ${JSON.stringify(asleep.route)}`);
    assert.ok(epochMs(asleep.route.since) > epochMs(ready.route.since), 'route.since moved with the switch back');

    // 5. The same URL wakes it again: the wait page, then the dashboard, same address.
    browser = await launch({ colorScheme: 'dark' });
    ({ page } = browser);
    problems = watchProblems(page);
    navs = recordNavigations(page);
    const again = await page.goto(demoUrl);
    assert.equal(again.status(), 200);
    assert.equal(await page.locator('h1').textContent(), 'Demo app is waking up', 'the wait page again');
    await page.waitForSelector('#live[data-state="live"]', { timeout: 30_000 });
    assert.equal(page.url(), demoUrl);
    assert.equal((await page.textContent('#api-greeting')).trim(), 'Hello from snooze demo API', 'the API answers after the wake again');
    assert.deepEqual(navs.map((n) => n.url).filter((u) => u !== demoUrl), [], 'every main-frame navigation is the stable address');
    assert.ok(pid() !== appPid && alive(pid()), 'a new app process');
    assert.deepEqual(problems, []);
    assert.equal(record('demo').status.route?.to, 'service');
    step('the same URL woke it again');
  } finally {
    if (browser) await browser.close();
    const code = await new Promise((done) => {
      if (dev.exitCode !== null) return done(dev.exitCode);
      const t = setTimeout(() => { dev.kill('SIGKILL'); done('killed'); }, 15_000);
      dev.once('exit', (c, s) => { clearTimeout(t); done(c ?? s); });
      dev.kill('SIGTERM');
    });
    step(`snoozectl dev exited with ${code}`);
    const last = ['app.pid', 'api.pid', 'slow.pid', 'echo.pid'].map((f) => pidOf(f)()).filter((p) => p && alive(p));
    rmSync(work, { recursive: true, force: true });
    assert.equal(code, 0, 'snoozectl dev exits 0 on SIGTERM');
    assert.deepEqual(last, [], 'no app process outlives snoozectl dev');
  }
}

/**
 * K visitors (one browser context each) open the slow service at once; each page's dashboard
 * document is compared with `status.route.since`. "Moved" is when that document's response had
 * arrived (performance.timeOrigin + responseEnd, corrected by the page's own Date.now() offset
 * from the performance clock): what the browser had, not when node heard of it.
 */
async function measureSlow({ slowUrl, record, pid }) {
  const browser = await launchBrowser();
  try {
    const visitors = [];
    for (let i = 0; i < K; i++) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
      const page = await context.newPage();
      visitors.push({ page, navs: recordNavigations(page), problems: watchProblems(page) });
    }
    const opened = Date.now();
    const first = await Promise.all(visitors.map(({ page }) => page.goto(slowUrl)));
    for (const r of first) assert.equal(r.status(), 200, 'slow: the wait page');
    assert.equal(await visitors[0].page.locator('h1').textContent(), 'Slow app is waking up');
    step(`slow opened by ${K} visitors; the app listens after ${SLOW_START_S} s`);
    try {
      await Promise.all(visitors.map(({ page }) => page.waitForSelector('#app-env', { timeout: (SLOW_START_S + 45) * 1000 })));
    } catch (e) {
      // Say what each page shows and what the record says, so a failure can be understood.
      console.log(`slow: not every page showed the app; record status ${JSON.stringify(record('slow').status)}`);
      for (const [i, { page, navs, problems }] of visitors.entries()) {
        const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => '(no h1)');
        const body = await page.evaluate(() => document.body ? document.body.innerText.slice(0, 300) : '').catch((x) => `(${x})`);
        console.log(`  page ${i}: url ${page.url()}, h1 ${JSON.stringify(h1)}, ${navs.length} navigation(s), problems ${JSON.stringify(problems)}, text ${JSON.stringify(body)}`);
      }
      throw e;
    }
    const seen = Date.now();
    const st = record('slow').status;
    assert.equal(st.phase, 'Ready');
    assert.equal(st.route?.to, 'service', `slow: status.route points at the service: ${JSON.stringify(st.route)}`);
    const since = epochMs(st.route.since);
    const rows = [];
    for (const { page, navs, problems } of visitors) {
      assert.equal(await page.textContent('h1'), 'slow demo');
      assert.equal(page.url(), slowUrl);
      assert.deepEqual(navs.map((n) => n.url).filter((u) => u !== slowUrl), [], 'slow: every main-frame navigation is the stable address');
      const t = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return {
          origin: performance.timeOrigin, responseStart: n.responseStart, responseEnd: n.responseEnd,
          type: n.type, skew: Date.now() - (performance.timeOrigin + performance.now()),
        };
      });
      assert.deepEqual(problems, [], 'slow: no console errors');
      rows.push({
        moved: t.origin + t.responseEnd + t.skew - since,
        started: t.origin + t.skew - since,
        firstByte: t.origin + t.responseStart + t.skew - since,
        node: navs.at(-1).at - since,
        navs: navs.length, type: t.type,
      });
    }
    const sorted = (k) => rows.map((r) => r[k]).sort((a, b) => a - b);
    const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${xs.at(-1).toFixed(0)} ms`;
    const moved = sorted('moved');
    const wake = (since - opened) / 1000;
    console.log(`route→page moved: ${fmt(moved)} over ${K} pages (wake took ${wake.toFixed(1)} s)`);
    console.log(`  min ${moved[0].toFixed(0)} ms; reload started ${fmt(sorted('started'))}; first byte ${fmt(sorted('firstByte'))}; `
      + `node framenavigated ${fmt(sorted('node'))}`);
    console.log(`  per page (ms after route.since): ${rows.map((r) => `${r.moved.toFixed(0)} (${r.navs} navs, ${r.type})`).join(', ')}`);
    const phaseAt = st.phaseSince ? epochMs(st.phaseSince) : NaN;
    console.log(`  route.since ${st.route.since}; phase Ready since ${st.phaseSince} (${(since - phaseAt).toFixed(0)} ms before the route); `
      + `lastWake ${st.lastWake ? `${st.lastWake.seconds} s` : 'absent'}; pages opened ${new Date(opened).toISOString()}, `
      + `all dashboards seen by ${((seen - since) / 1000).toFixed(1)} s after the route`);
    assert.ok(wake >= SLOW_START_S - 1, `slow was not routed before its app could listen (${wake} s)`);
    assert.ok(moved.at(-1) < 3_000, `every page on the dashboard within 3 s of the route switch (max ${moved.at(-1).toFixed(0)} ms)`);
    assert.ok(pid() > 0 && alive(pid()), 'the slow app runs');
    step('slow: route→page latency measured');
  } finally {
    await browser.close();
  }
}

/** echo: the proxied request carries X-Forwarded-Host and the original path and query. */
async function checkEcho({ listen, record }) {
  const host = `echo.localhost:${listen}`;
  const got = await until('echo to answer through the stable address', 30_000, async () => {
    const r = await httpGet(listen, host, '/hello/there?x=1&y=two').catch(() => null);
    if (!r) return null;
    if (r.status !== 200 || !String(r.headers['content-type']).startsWith('application/json')) return null;
    const j = JSON.parse(r.body);
    return j.echo ? j : null;
  });
  step(`echo saw ${got.method} ${got.url}, host ${got.headers.host}, x-forwarded-host ${got.headers['x-forwarded-host']}, `
    + `x-forwarded-proto ${got.headers['x-forwarded-proto']}, x-forwarded-for ${got.headers['x-forwarded-for']}`);
  assert.equal(got.url, '/hello/there?x=1&y=two', 'path and query reach the service unchanged');
  assert.equal(got.headers['x-forwarded-host'], host, 'X-Forwarded-Host is the address the visitor asked for');
  assert.equal(record('echo').status.route?.to, 'service');
}

const guard = setTimeout(() => { console.error(`dev_stack: timed out after ${DEADLINE_MS / 1000} s`); process.exit(1); }, DEADLINE_MS);
main().then(
  () => { clearTimeout(guard); step('passed'); },
  (e) => { clearTimeout(guard); console.error(e); process.exit(1); },
);
