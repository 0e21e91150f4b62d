// The wait page in headless Chromium against the example wake server (controller/examples/
// wake_server.rs) over a temporary SQLite store. The test plays the reconciler by publishing
// statuses with `wake_server publish` and checks what a visitor sees:
//
//  1. a sleeping service's URL shows the wait page; the current step follows the published
//     status (requested → scaling → provisioning → pending → running → healthy); Ready sends the
//     browser to the task (a local stand-in server) with the original path and query;
//  2. Failed shows the plain reason (escaped) and "Try again", polling stops, and Try again
//     records a fresh wake;
//  3. access: token — the cookie set on the first visit makes the poll and the redirect work;
//  4. without JavaScript the page refreshes itself (<meta http-equiv=refresh>) and still ends
//     on the task;
//  5. a group of two (web depends on api): the page lists both members with their own steps and
//     the group's ETA; web Ready while api still wakes keeps the page ("Waiting for api"), no
//     redirect; api Ready sends the visitor on.
// Screenshots: target/screenshots/wait-page-{light,dark,failed,nojs,off,group}.png.
//
//   cargo build -p snooze --example wake_server && (cd tests/browser && npm ci) && node tests/browser/wait_page.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TARGET, assertNoProblems, launch, shotsDir, startProcess, startTaskServer, stepLogger, watchProblems,
} from './lib.mjs';

const BIN = process.env.WAKE_SERVER_BIN || join(TARGET, 'debug', 'examples', 'wake_server');
const DEADLINE_MS = 150_000;
const step = stepLogger('wait_page');
const deadline = setTimeout(() => { console.error('wait_page: over the time limit'); process.exit(1); }, DEADLINE_MS);

assert.ok(existsSync(BIN), `${BIN} not found (cargo build -p snooze --example wake_server)`);
const dir = mkdtempSync(join(tmpdir(), 'snooze-wait-page-'));
const db = join(dir, 'snooze.db');
const env = { ...process.env, RUST_LOG: 'warn' };
const { child: server, match } = await startProcess(BIN, ['serve', '--db', db, '--seed'], /listening (http:\S+)/, { env });
const base = match[1];
const task = await startTaskServer();
step(`wake server ${base}, task stand-in ${task.url}`);

/** Plays the reconciler: replaces the record's status. */
function publish(name, phase, opts = {}) {
  const args = ['publish', '--db', db, name, '--phase', phase];
  if (opts.step) args.push('--step', opts.step);
  if (opts.url) args.push('--url', opts.url);
  if (opts.message) args.push('--message', opts.message);
  if (opts.recent) args.push('--recent', opts.recent.join(','));
  if (opts.group) args.push('--group', JSON.stringify(opts.group));
  execFileSync(BIN, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
}
function record(name) {
  return JSON.parse(execFileSync(BIN, ['get', '--db', db, name], { env, encoding: 'utf8' }));
}
async function expectStep(page, want, timeout = 9000) {
  await page.waitForSelector(`ol.steps li.current[data-step="${want}"]`, { timeout });
  const done = await page.locator('ol.steps li.done').evaluateAll((els) => els.map((e) => e.dataset.step));
  const order = ['requested', 'scaling', 'provisioning', 'pending', 'running', 'healthy', 'ready'];
  assert.deepEqual(done, order.slice(0, order.indexOf(want)), `steps before ${want} are done`);
}

let failures = 0;
const cleanup = async () => {
  server.kill();
  await task.close();
  rmSync(dir, { recursive: true, force: true });
};

try {
  // ------------------------------------------------------------------ 1. progress and redirect
  {
    const { page, close } = await launch({ colorScheme: 'light' });
    const problems = watchProblems(page);
    try {
      const resp = await page.goto(`${base}/s/demo/some/path?q=1&x=a%20b`);
      assert.equal(resp.status(), 200);
      assert.equal(resp.headers()['cache-control'], 'no-store');
      assert.match(resp.headers()['content-security-policy'], /script-src 'nonce-[0-9a-f]{32}'/);
      assert.equal(await page.title(), 'Demo app is waking up');
      assert.equal(await page.locator('h1').textContent(), 'Demo app is waking up');
      await expectStep(page, 'requested');
      assert.ok(record('demo').desired?.wakeRequestedAt, 'the visit recorded a wake');
      step('wait page shows "requested"');

      publish('demo', 'Waking', { step: 'scaling', recent: [30, 42, 38] });
      await expectStep(page, 'scaling');
      publish('demo', 'Waking', { step: 'provisioning' });
      await expectStep(page, 'provisioning');
      publish('demo', 'Waking', { step: 'pending' });
      await expectStep(page, 'pending');
      const eta = await page.locator('#eta').textContent();
      assert.match(eta, /about \d+ s left|any moment now/, `ETA shown: ${eta}`);
      const elapsed1 = await page.locator('#elapsed').textContent();
      await page.waitForTimeout(1200);
      assert.notEqual(await page.locator('#elapsed').textContent(), elapsed1, 'elapsed time ticks');
      step(`pending: elapsed ${elapsed1}, ${eta}`);
      await page.screenshot({ path: join(shotsDir(), 'wait-page-light.png') });
      await page.emulateMedia({ colorScheme: 'dark' });
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, 'rgb(13, 16, 23)', 'prefers-color-scheme: dark switches the palette');
      await page.screenshot({ path: join(shotsDir(), 'wait-page-dark.png') });
      await page.emulateMedia({ colorScheme: 'light' });

      publish('demo', 'Waking', { step: 'running' });
      await expectStep(page, 'running');
      publish('demo', 'Waking', { step: 'healthy' });
      await expectStep(page, 'healthy');
      step('running → healthy');

      publish('demo', 'Ready', { step: 'ready', url: `${task.url}/` });
      await page.waitForURL(`${task.url}/some/path?q=1&x=a%20b`, { timeout: 9000 });
      assert.equal(await page.locator('h1').textContent(), 'hello from the task');
      assert.ok(task.seen.includes('/some/path?q=1&x=a%20b'), `task saw ${task.seen}`);
      step('Ready: redirected to the task with path and query');
      assertNoProblems(problems, 'progress');
    } finally {
      await close();
    }
  }

  // ------------------------------------------------------------------ 2. Failed and Try again
  {
    const { page, close } = await launch({ colorScheme: 'light' });
    const problems = watchProblems(page);
    try {
      await page.goto(`${base}/s/flaky`);
      await expectStep(page, 'requested');
      publish('flaky', 'Waking', { step: 'pending' });
      await expectStep(page, 'pending');
      const reason = 'Task stopped: Essential container in task exited (exit code 1) <script>alert(1)</script>';
      publish('flaky', 'Failed', { step: 'running', message: reason });
      await page.waitForSelector('.alert', { timeout: 9000 });
      assert.equal(await page.locator('h1').textContent(), 'Flaky service could not be started');
      assert.equal(await page.locator('.alert #message').textContent(), reason, 'the reason, as text');
      assert.equal(await page.locator('ol.steps li.failed').getAttribute('data-step'), 'running');
      await page.screenshot({ path: join(shotsDir(), 'wait-page-failed.png') });
      const before = record('flaky').desired.wakeRequestedAt;
      let polls = 0;
      page.on('request', (r) => { if (r.url().includes('/api/v1/services/')) polls += 1; });
      await page.waitForTimeout(3000);
      assert.equal(polls, 0, 'no polling after Failed');
      assert.equal(record('flaky').desired.wakeRequestedAt, before, 'looking at a failure does not retry it');
      step('Failed: reason + Try again, polling stopped');

      await page.locator('a.button', { hasText: 'Try again' }).click();
      await page.waitForSelector('ol.steps li.current[data-step="requested"]', { timeout: 9000 });
      assert.match(page.url(), /retry=1/);
      const after = record('flaky').desired.wakeRequestedAt;
      assert.ok(after > before, `Try again recorded a fresh wake (${before} → ${after})`);
      assert.equal(await page.locator('h1').textContent(), 'Flaky service is waking up');
      step('Try again: fresh wake recorded, page waiting again');
      assertNoProblems(problems, 'failed');
    } finally {
      await close();
    }
  }

  // ------------------------------------------------------------------ 3. token access
  {
    const { page, close } = await launch({ colorScheme: 'light' });
    const problems = watchProblems(page);
    try {
      const off = await page.goto(`${base}/s/off`);
      assert.equal(off.status(), 503);
      assert.equal(await page.locator('h1').textContent(), 'off is switched off');
      await page.screenshot({ path: join(shotsDir(), 'wait-page-off.png') });
      const denied = await page.goto(`${base}/s/locked/app`);
      assert.equal(denied.status(), 403);
      assert.equal(await page.locator('h1').textContent(), 'Access token needed');
      await page.goto(`${base}/s/locked/app?token=letmein`);
      await expectStep(page, 'requested');
      const statuses = [];
      page.on('response', (r) => { if (r.url().includes('/api/v1/services/locked')) statuses.push(r.status()); });
      publish('locked', 'Waking', { step: 'scaling' });
      await expectStep(page, 'scaling');
      assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `polls carried the cookie: ${statuses}`);
      publish('locked', 'Ready', { step: 'ready', url: `${task.url}/` });
      await page.waitForURL(`${task.url}/app`, { timeout: 9000 });
      step('token: cookie carried the poll; redirected without the token in the query');
      // problems contain the expected 403 of the first visit only
      assert.deepEqual(problems.filter((p) => !p.includes('403') && !p.includes('503')), [], 'token');
    } finally {
      await close();
    }
  }

  // ------------------------------------------------------------------ 4. no JavaScript
  {
    const { page, close } = await launch({ colorScheme: 'light', javaScriptEnabled: false });
    try {
      await page.goto(`${base}/s/dark/x?y=1`);
      await expectStep(page, 'requested');
      const theme = await page.locator('html').getAttribute('data-theme');
      assert.equal(theme, 'dark', 'spec.page.theme pins dark');
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, 'rgb(13, 16, 23)', 'dark theme even in a light-preferring browser');
      publish('dark', 'Waking', { step: 'provisioning', recent: [20] });
      await expectStep(page, 'provisioning', 8000);
      await page.screenshot({ path: join(shotsDir(), 'wait-page-nojs.png') });
      step('no JavaScript: the meta refresh moved the page to "provisioning"');
      publish('dark', 'Ready', { step: 'ready', url: `${task.url}/` });
      await page.waitForURL(`${task.url}/x?y=1`, { timeout: 9000 });
      step('no JavaScript: Ready → redirected to the task');
    } finally {
      await close();
    }
  }

  // ------------------------------------------------------------------ 5. a group: web needs api
  {
    const { page, close } = await launch({ colorScheme: 'light' });
    const problems = watchProblems(page);
    const member = (name, wave, phase, stepName, message = '') => ({ name, wave, phase, step: stepName, message });
    const readyBy = (s) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const memberStep = (name) => page.locator(`#members li[data-member="${name}"]`).getAttribute('data-step');
    try {
      await page.goto(`${base}/s/web/cart?id=7`);
      await expectStep(page, 'requested');
      publish('api', 'Waking', { step: 'pending' });
      publish('web', 'Waking', {
        step: 'scaling',
        group: { waitingFor: ['api'], readyBy: readyBy(40), members: [member('api', 0, 'Waking', 'pending'), member('web', 1, 'Waking', 'scaling')] },
      });
      await page.waitForSelector('#members li[data-member="api"][data-step="pending"]', { timeout: 9000 });
      assert.equal(await memberStep('web'), 'scaling');
      const display = await page.locator('#members li[data-member="web"]').evaluate((el) => getComputedStyle(el).display);
      assert.equal(display, 'flex', 'the member list is styled');
      assert.equal(await page.locator('#members li[data-member="api"] .state').textContent(), 'starting containers');
      assert.match(await page.locator('#message').textContent(), /Waiting for api to be ready/);
      assert.match(await page.locator('#eta').textContent(), /about \d+ s left/, 'the group\'s ETA');
      step('group: both members listed with their own steps, one ETA');

      publish('web', 'Ready', {
        step: 'ready', url: `${task.url}/`,
        group: { waitingFor: ['api'], readyBy: readyBy(20), members: [member('api', 0, 'Waking', 'running'), member('web', 1, 'Ready', 'ready')] },
      });
      await page.waitForSelector('#members li[data-member="api"][data-step="running"]', { timeout: 9000 });
      assert.equal(await memberStep('web'), 'ready');
      await page.waitForTimeout(2500);
      assert.match(page.url(), /\/s\/web\/cart\?id=7$/, 'web Ready but api waking: no redirect');
      assert.match(await page.locator('#message').textContent(), /Waiting for api/);
      assert.equal(record('web').status.phase, 'Ready');
      assert.equal(await page.locator('#members li[data-member="api"] .state').textContent(), 'running', 'the script re-rendered the row');
      await page.screenshot({ path: join(shotsDir(), 'wait-page-group.png') });
      step('group: web Ready, api still waking → the page stays ("Waiting for api")');

      const why = 'Task stopped: exit 1 <img src=x onerror=alert(1)>';
      publish('web', 'Ready', {
        step: 'ready', url: `${task.url}/`,
        group: { waitingFor: ['api'], members: [member('api', 0, 'Failed', 'running', why), member('web', 1, 'Ready', 'ready')] },
      });
      await page.waitForSelector('#members li[data-member="api"].failed .why', { timeout: 9000 });
      assert.equal(await page.locator('#members li[data-member="api"] .why').textContent(), why, 'which member failed and why, as text');
      assert.equal(await page.locator('#members img').count(), 0, 'no markup from the message');
      assert.equal(await page.locator('#eta').textContent(), 'no estimate yet', 'readyBy unknown');
      assert.match(page.url(), /\/s\/web\/cart\?id=7$/);
      step('group: a failed member is named with its reason (as text)');

      publish('api', 'Ready', { step: 'ready', url: `${task.url}/` });
      publish('web', 'Ready', {
        step: 'ready', url: `${task.url}/`,
        group: { readyBy: readyBy(0), members: [member('api', 0, 'Ready', 'ready'), member('web', 1, 'Ready', 'ready')] },
      });
      await page.waitForURL(`${task.url}/cart?id=7`, { timeout: 9000 });
      step('group: api Ready → the visitor is sent on');
      assertNoProblems(problems, 'group');
    } finally {
      await close();
    }
  }
} catch (e) {
  failures += 1;
  console.error(e);
} finally {
  await cleanup();
  clearTimeout(deadline);
}
if (failures) {
  console.error('wait_page: FAILED');
  process.exit(1);
}
console.log('wait_page: 5 passed, 0 failed');
