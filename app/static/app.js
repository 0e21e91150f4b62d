// snooze demo dashboard: theme toggle (remembered in localStorage), demo action buttons
// (POST /action), live log over Server-Sent Events (/api/logs/stream) and a metrics refresh
// (/api/metrics). Loaded from <head> so the theme is applied before the first paint; no
// inline code, so the page runs under `Content-Security-Policy: default-src 'self'`.
(function () {
  'use strict';

  const THEME_KEY = 'snooze-demo-theme';
  const MAX_LINES = 200;
  const METRICS_EVERY_MS = 5000;
  const root = document.documentElement;

  function storedTheme() {
    try { return localStorage.getItem(THEME_KEY); } catch (_) { return null; }
  }
  function preferredTheme() {
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  function applyTheme(theme) {
    root.dataset.theme = theme === 'dark' ? 'dark' : 'light';
    const toggle = document.getElementById('theme-toggle');
    if (toggle) toggle.setAttribute('aria-pressed', String(root.dataset.theme === 'dark'));
  }
  applyTheme(storedTheme() || preferredTheme());

  // ---- formatting (same as the server's page::format_uptime / format_bytes) ----
  function formatUptime(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + sec + 's';
    return sec + 's';
  }
  function formatBytes(b) {
    if (b == null) return 'n/a';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = b, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    if (u === 0) return b + ' B';
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[u];
  }
  function setText(id, text) {
    const el = document.getElementById(id);
    if (el && el.textContent !== text) el.textContent = text;
  }
  function setBar(pct) {
    const bar = document.getElementById('sysmem-bar');
    if (!bar) return;
    pct = Math.max(0, Math.min(100, Number(pct) || 0));
    bar.dataset.pct = String(pct);
    bar.style.width = pct + '%';
    bar.classList.toggle('hot', pct >= 85);
  }

  // ---- metrics ----
  let uptimeBase = null; // {seconds, at}
  function tickUptime() {
    if (!uptimeBase) return;
    setText('uptime', formatUptime(uptimeBase.seconds + (Date.now() - uptimeBase.at) / 1000));
  }
  async function refreshMetrics() {
    try {
      const r = await fetch('/api/metrics', { cache: 'no-store' });
      if (!r.ok) return;
      const m = await r.json();
      uptimeBase = { seconds: m.app.uptime_seconds, at: Date.now() };
      tickUptime();
      setText('started', 'since ' + new Date(m.app.started_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
      setText('rss', formatBytes(m.memory.rss_bytes));
      const total = m.memory.system_total_bytes, avail = m.memory.system_available_bytes;
      if (total != null && avail != null) {
        const used = Math.max(0, total - avail);
        const pct = Math.round(used / Math.max(1, total) * 100);
        setText('sysmem', formatBytes(used));
        setText('sysmem-sub', 'of ' + formatBytes(total) + ' · ' + pct + '% used');
        setBar(pct);
      }
      if (m.load_average) {
        setText('load', m.load_average.one.toFixed(2));
        setText('load-sub', '5m ' + m.load_average.five.toFixed(2) + ' · 15m ' + m.load_average.fifteen.toFixed(2));
      }
      setText('cpus', String(m.cpu_count));
      setText('hostname', m.hostname);
      setText('pid', 'pid ' + m.app.pid);
    } catch (_) { /* offline: the live pill already says so */ }
  }

  // ---- live log ----
  const logEl = () => document.getElementById('log');
  function timeOf(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toISOString().slice(11, 19);
  }
  function lineFor(entry, fresh) {
    const li = document.createElement('li');
    li.className = 'log-line' + (fresh ? ' new' : '');
    li.dataset.seq = String(entry.seq);
    li.dataset.level = entry.level;
    const time = document.createElement('time');
    time.dateTime = entry.at;
    time.textContent = timeOf(entry.at);
    const badge = document.createElement('span');
    badge.className = 'badge src-' + entry.source;
    badge.textContent = entry.source;
    const msg = document.createElement('span');
    msg.className = 'msg';
    msg.textContent = entry.message;
    li.append(time, badge, msg);
    return li;
  }
  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  }
  function updateCount() {
    const n = logEl().children.length;
    setText('log-count', n + (n === 1 ? ' entry' : ' entries'));
  }
  function replaceLog(entries) {
    const el = logEl();
    el.replaceChildren(...entries.slice(-MAX_LINES).map((e) => lineFor(e, false)));
    el.scrollTop = el.scrollHeight;
    updateCount();
  }
  function appendLog(entry) {
    const el = logEl();
    const last = el.lastElementChild;
    if (last && Number(last.dataset.seq) >= entry.seq) return; // already shown
    const stick = nearBottom(el);
    el.append(lineFor(entry, true));
    while (el.children.length > MAX_LINES) el.firstElementChild.remove();
    if (stick) el.scrollTop = el.scrollHeight;
    updateCount();
  }
  function setLive(state, text) {
    const pill = document.getElementById('live');
    if (!pill) return;
    pill.dataset.state = state;
    pill.querySelector('.live-text').textContent = text;
  }
  function connectLog() {
    if (!window.EventSource) { setLive('offline', 'no live log'); return; }
    const es = new EventSource('/api/logs/stream');
    es.addEventListener('open', () => setLive('live', 'live'));
    es.addEventListener('snapshot', (e) => { setLive('live', 'live'); replaceLog(JSON.parse(e.data)); });
    es.addEventListener('log', (e) => appendLog(JSON.parse(e.data)));
    es.addEventListener('error', () => {
      setLive(es.readyState === EventSource.CLOSED ? 'offline' : 'connecting', es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
    });
    window.addEventListener('pagehide', () => es.close());
  }

  // ---- actions ----
  function showResult(state, text) {
    const box = document.getElementById('action-result');
    box.dataset.state = state;
    box.textContent = text;
  }
  async function fire(button) {
    const action = button.dataset.action;
    button.disabled = true;
    button.classList.add('busy');
    try {
      const r = await fetch('/action', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) showResult('error', body.error || ('HTTP ' + r.status));
      else showResult(body.ok ? 'ok' : 'warn', body.message);
    } catch (e) {
      showResult('error', 'request failed: ' + e.message);
    } finally {
      button.disabled = false;
      button.classList.remove('busy');
    }
  }

  function init() {
    const toggle = document.getElementById('theme-toggle');
    applyTheme(root.dataset.theme);
    toggle.addEventListener('click', () => {
      const next = root.dataset.theme === 'dark' ? 'light' : 'dark';
      applyTheme(next);
      try { localStorage.setItem(THEME_KEY, next); } catch (_) { /* private mode */ }
    });
    const bar = document.getElementById('sysmem-bar');
    if (bar) setBar(bar.dataset.pct);
    document.querySelectorAll('button[data-action]').forEach((b) => b.addEventListener('click', () => fire(b)));
    const el = logEl();
    el.scrollTop = el.scrollHeight;
    connectLog();
    refreshMetrics();
    setInterval(refreshMetrics, METRICS_EVERY_MS);
    setInterval(tickUptime, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
