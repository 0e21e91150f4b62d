// Shared helpers for the headless Chromium tests (playwright-core + Debian chromium).
//
//   import { launch, launchBrowser, startProcess, startTaskServer, shotsDir, stepLogger } from './lib.mjs';
//
// Env: CHROMIUM (default /usr/bin/chromium), CARGO_TARGET_DIR (default <repo>/target).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Cargo's target directory. */
export const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
/** The Chromium binary (Debian's `chromium` package). */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** target/screenshots, created on first use. */
export function shotsDir() {
  const dir = join(ROOT, 'target', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A logger that prefixes seconds since start: `step('opened page')`. */
export function stepLogger(name) {
  const t0 = Date.now();
  return (msg) => console.log(`[${name} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/**
 * Launches Chromium with a fresh profile directory (removed by `close()`).
 * Options are passed to launchPersistentContext (viewport, colorScheme, javaScriptEnabled, ...).
 * Returns { context, page, close }.
 */
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'snooze-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 820 },
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/**
 * Launches Chromium without a persistent profile, for tests that want several independent
 * visitors: `browser.newContext(options)` gives each its own cookies and cache. Returns the
 * playwright Browser; `browser.close()` ends it.
 */
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Collects console errors/warnings, page errors and CSP violations of `page` into an array,
 * so a test can assert that it stayed empty.
 */
export function watchProblems(page) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  return problems;
}

/**
 * Spawns `bin args` and resolves with { child, match } once a stdout line matches `pattern`
 * (within `timeoutMs`). stderr is inherited; the child is killed by `child.kill()`.
 */
export function startProcess(bin, args, pattern, { env = process.env, timeoutMs = 15_000 } = {}) {
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin}: no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${bin} exited early with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(pattern);
      if (m) { clearTimeout(timer); resolveStart({ child, match: m }); }
    });
  });
}

/**
 * A tiny HTTP server on 127.0.0.1 standing in for a woken task: answers every request with a
 * small HTML page and records the request URLs. Resolves with { url, seen, close }.
 */
export function startTaskServer(text = 'hello from the task') {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>task</title><h1>${text}</h1>`);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    ok({ url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((c) => server.close(c)) });
  }));
}

/** Fails unless `problems` is empty. */
export function assertNoProblems(problems, what) {
  assert.deepEqual(problems, [], `${what}: console/page problems`);
}
