// Browser tests of the web console (tests/cli/test_console_ui.sh runs this): Debian's chromium,
// headless, driven by puppeteer-core (installed from the npm registry at test time; no browser
// download). Environment: URL (the host), TOKEN_ADMIN, TOKEN_ANALYST, LOG (the generated raw
// audit log the host scanned), OUT (screenshots and layout.json), PREV (the previous run's
// layout.json, may be missing), CHROMIUM, PUPPETEER (the module's path).
// Screenshots are compared with the previous run for layout breakage only (which key elements
// exist and their widths), never pixel by pixel. No timing is asserted: conditions are awaited.
import fs from 'node:fs';
import path from 'node:path';

const env = (k) => { if (!process.env[k]) throw new Error(`${k} not set`); return process.env[k]; };
const { default: puppeteer } = await import(env('PUPPETEER'));
const URL = env('URL'), OUT = env('OUT');
const TIMEOUT = 60000;
fs.mkdirSync(OUT, { recursive: true });

let failures = 0;
function check(cond, msg) {
  if (cond) { console.log('ok   ' + msg); return; }
  failures++;
  console.log('FAIL ' + msg);
}

async function apiGet(p, token) {
  const r = await fetch(URL + '/api/v1/' + p, { headers: { Authorization: 'Bearer ' + (token || env('TOKEN_ADMIN')) } });
  if (!r.ok) throw new Error(`${p}: HTTP ${r.status}`);
  return r.json();
}
async function ingest(lines) {
  const r = await fetch(URL + '/host/ingest', { method: 'POST', body: lines.join('\n') + '\n',
    headers: { Authorization: 'Bearer ' + env('TOKEN_ADMIN') } });
  if (!r.ok) throw new Error('ingest: HTTP ' + r.status);
  return r.json();
}

const layout = {};
async function shot(page, name, selectors) {
  await page.screenshot({ path: path.join(OUT, name + '.png'), fullPage: true });
  await page.screenshot({ path: path.join(OUT, name + '-view.png') }); /* docs/ui.md's size */
  const m = await page.evaluate((sels) => {
    const out = { overflow: document.documentElement.scrollWidth - window.innerWidth, el: {} };
    for (const s of sels) {
      const e = document.querySelector(s);
      const r = e && e.getBoundingClientRect();
      out.el[s] = r && r.width > 0 ? { x: Math.round(r.x), w: Math.round(r.width) } : null;
    }
    return out;
  }, selectors);
  layout[name] = m;
  check(m.overflow <= 1, `${name}: no horizontal overflow (${m.overflow}px)`);
  for (const s of selectors) check(m.el[s] !== null, `${name}: ${s} laid out`);
}

const browser = await puppeteer.launch({
  executablePath: env('CHROMIUM'), headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width: 1280, height: 800 });
  page.on('pageerror', (e) => { failures++; console.log('FAIL page error: ' + (e.stack || e.message)); });

  // ---- log in (keyboard only: type the token, press Enter) ----
  await page.goto(URL + '/ui/', { waitUntil: 'load' });
  await page.waitForSelector('#token');
  await shot(page, 'login', ['#login-form', '#token']);
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(focused === 'token', 'login: the token field has the focus');
  await page.keyboard.type(env('TOKEN_ANALYST'));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#alerts-body tr');
  const cookies = await page.cookies();
  const sc = cookies.find((c) => c.name === 'kadet_session');
  check(sc && sc.httpOnly && sc.sameSite === 'Strict', 'session cookie is HttpOnly and SameSite=Strict');

  // ---- alert count equals the API's ----
  await page.waitForFunction(() => /^\d+$/.test((document.querySelector('#alert-total') || {}).textContent));
  const shown = Number(await page.$eval('#alert-total', (e) => e.textContent));
  const api = await apiGet('alerts?limit=1');
  check(shown === api.total && shown > 0, `alert count ${shown} equals the API's ${api.total}`);
  const rows = await page.$$eval('#alerts-body tr', (r) => r.length);
  check(rows === Math.min(100, api.total), `first page lists ${rows} alerts`);
  const bars = await page.$$eval('#timeline rect', (r) => r.length);
  check(bars > 0, `timeline has ${bars} bars`);
  await shot(page, 'alerts', ['#filters', '#timeline', '#alerts-table', 'nav']);

  // filter by severity through the form, as a user would
  await page.select('#f-severity', 'medium');
  await page.click('#filters button[type=submit]');
  const med = await apiGet('alerts?limit=1&severity=medium');
  await page.waitForFunction((n) => (document.querySelector('#alert-total') || {}).textContent === String(n), {}, med.total);
  check(true, `severity filter shows ${med.total} alerts`);

  // ---- an alert with baseline rows ----
  const list = (await apiGet('alerts?limit=200')).alerts;
  let target = null, base = null;
  for (const a of list) {
    const d = await apiGet('alerts/' + a.id);
    const b = d.document['kadet.baseline'];
    if (b && b.seen && b.seen.length >= 1 && d.rule && d.rule.new_terms_fields.length >= 2) { target = d; base = b; break; }
  }
  check(target !== null, 'found an alert with kadet.baseline rows');
  if (!target) throw new Error('no alert with a baseline');
  const id = target.alert.id;
  await page.goto(URL + '/ui/#/alert/' + id, { waitUntil: 'load' });
  await page.waitForSelector('#baseline-table tr.baseline-row');
  const brows = await page.$$eval('#baseline-table tr.baseline-row', (r) => r.length);
  check(brows === base.seen.length, `alert page shows ${brows} baseline rows, the document has ${base.seen.length}`);
  const marked = await page.$$eval('#new-terms mark', (m) => m.map((x) => x.textContent));
  check(JSON.stringify(marked) === JSON.stringify(target.alert.new_terms.map(String)), 'new terms highlighted');
  check(await page.$('.guide') !== null || !target.rule.note, 'investigation guide rendered');
  // the user's events +-1 h from serve's recent input, the raw event expandable
  const evApi = await apiGet('alerts/' + id + '/events');
  await page.waitForSelector('#input-events[aria-busy=false]');
  const irows = await page.$$eval('#input-table tr.input-row', (r) => r.length);
  check(irows === evApi.input.events.length && irows > 0, `alert page lists ${irows} events of the user ±1 h, the API ${evApi.input.events.length}`);
  const aud0 = target.document.kubernetes.audit.auditID;
  const idx = evApi.input.events.findIndex((e) => e.audit_id === aud0);
  check(idx >= 0, 'the alert\'s own event is among them');
  if (idx >= 0) {
    await page.focus(`#input-table tr.input-row:nth-child(${idx + 1}) summary`);
    await page.keyboard.press('Enter');
    const raw = await page.$eval(`#input-table tr.input-row:nth-child(${idx + 1}) pre.raw`, (p) => p.checkVisibility() ? p.textContent : '');
    check(raw.includes(aud0), 'Enter on a row shows its raw event');
  }
  await shot(page, 'alert', ['#reason', '#baseline-table', '#triage', '#exception-form', '#input-table']);

  // ---- accessibility: every control has a name; themes follow the system ----
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button, a[href], summary')]
    .filter((e) => {
      const lab = e.closest('label') || (e.id && document.querySelector(`label[for="${e.id}"]`));
      const name = (e.getAttribute('aria-label') || (lab && lab.textContent) || e.textContent || '').trim();
      return !name && e.type !== 'hidden';
    }).map((e) => e.outerHTML.slice(0, 80)));
  check(unnamed.length === 0, `alert page: every control is labelled (${unnamed.join(' | ')})`);
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  const light = await bg();
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  const dark = await bg();
  check(light !== dark, `themes follow the system: light ${light}, dark ${dark}`);
  await shot(page, 'alert-dark', ['#reason', '#baseline-table']);
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  // Tab reaches the triage controls from the top of the page
  await page.focus('body');
  let reached = false;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'triage-status');
  }
  check(reached, 'Tab reaches the triage status');

  // ---- acknowledge, reload: the status persists ----
  await page.select('#triage-status', 'acknowledged');
  await page.type('#triage-note', 'checked by the browser test');
  await page.click('#triage-save');
  await page.waitForFunction(() => document.querySelector('#alert-status') &&
    document.querySelector('#alert-status').textContent === 'acknowledged');
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#alert-status');
  const st = await page.$eval('#alert-status', (e) => e.textContent);
  check(st === 'acknowledged', `status after reload: ${st}`);
  check((await apiGet('alerts/' + id)).alert.workflow_status === 'acknowledged', 'the API has it too');

  // ---- add an exception from it; the next matching event does not alert ----
  await page.waitForSelector('#exception-form');
  await page.click('#exc-preview');
  await page.waitForFunction(() => /suppressed [1-9]/.test(document.querySelector('#exc-result').textContent));
  await page.click('#exc-add');
  await page.waitForFunction(() => /Exception written/.test(document.querySelector('#exc-result').textContent));
  const excs = await apiGet('exceptions');
  check(excs.lists.length >= 1, `exception list loaded: ${excs.lists[0]}`);
  const aud = target.document.kubernetes.audit.auditID;
  const src = fs.readFileSync(env('LOG'), 'utf8').split('\n')
    .find((l) => l.includes(`"${aud}"`) && l.includes('"ResponseComplete"'));
  check(!!src, 'source event found in the log');
  const ev = JSON.parse(src);
  const again = { ...ev, auditID: 'dddddddd-0000-4000-8000-000000000001',
    stageTimestamp: '2026-01-22T00:00:00.000000Z', requestReceivedTimestamp: '2026-01-22T00:00:00.000000Z' };
  const r1 = await ingest([JSON.stringify(again)]);
  check(r1.events === 1 && r1.alerts === 0, `the next matching event raised ${r1.alerts} alerts`);
  const other = { ...again, auditID: 'dddddddd-0000-4000-8000-000000000002', userAgent: 'browser-test-novel/1.0',
    stageTimestamp: '2026-01-22T00:00:01.000000Z', requestReceivedTimestamp: '2026-01-22T00:00:01.000000Z' };
  const r2 = await ingest([JSON.stringify(other)]);
  check(r2.alerts >= 1, `an event with another user agent still alerts (${r2.alerts})`);

  // live: the alerts page follows the new alert (server-sent events)
  await page.goto(URL + '/ui/#/alerts', { waitUntil: 'load' });
  await page.waitForFunction(() => /^\d+$/.test((document.querySelector('#alert-total') || {}).textContent));
  const before = Number(await page.$eval('#alert-total', (e) => e.textContent));
  const novel = { ...other, auditID: 'dddddddd-0000-4000-8000-000000000003', userAgent: 'browser-test-live/1.0',
    stageTimestamp: '2026-01-22T00:00:02.000000Z', requestReceivedTimestamp: '2026-01-22T00:00:02.000000Z' };
  const r3 = await ingest([JSON.stringify(novel)]);
  await page.waitForFunction((n) => Number((document.querySelector('#alert-total') || {}).textContent) >= n, {}, before + r3.alerts);
  check(r3.alerts >= 1, `live update: ${before} -> ${before + r3.alerts} without reloading`);

  // ---- rules page lists unsupported rules with reasons ----
  await page.goto(URL + '/ui/#/rules', { waitUntil: 'load' });
  await page.waitForSelector('#rules-table tr.rule-row');
  const unsup = await page.$$eval('#rules-table tr.rule-row[data-status=unsupported]', (rs) =>
    rs.map((r) => r.querySelector('.reason') ? r.querySelector('.reason').textContent : ''));
  const apiRules = (await apiGet('rules')).rules.filter((r) => r.status === 'unsupported');
  check(unsup.length === apiRules.length && unsup.length > 0 && unsup.every((x) => x.length > 3),
    `rules page: ${unsup.length} unsupported rule(s) with reasons: ${unsup.join('; ')}`);
  await shot(page, 'rules', ['#rules-table']);

  // ---- baselines and health ----
  await page.goto(URL + '/ui/#/baselines/' + encodeURIComponent(target.alert.user), { waitUntil: 'load' });
  await page.waitForSelector('#baseline-out .combo-row');
  check((await page.$$eval('#baseline-out .combo-row', (r) => r.length)) > 0, 'baselines page lists combinations');
  await shot(page, 'baselines', ['#baseline-form', '#per-day']);
  await page.goto(URL + '/ui/#/health', { waitUntil: 'load' });
  await page.waitForSelector('#metrics tbody tr');
  await shot(page, 'health', ['#metrics', '#h-alerts']);

  // ---- phone width ----
  await page.setViewport({ width: 390, height: 844 });
  await page.goto(URL + '/ui/#/alerts', { waitUntil: 'load' });
  await page.waitForSelector('#alerts-body tr');
  await shot(page, 'alerts-phone', ['#alerts-table', 'nav']);
  await page.goto(URL + '/ui/#/alert/' + id, { waitUntil: 'load' });
  await page.waitForSelector('#baseline-table');
  await shot(page, 'alert-phone', ['#reason', '#baseline-table']);

  // ---- a read-only user cannot triage from the page ----
  const ctx = await browser.createBrowserContext();
  const p2 = await ctx.newPage();
  p2.setDefaultTimeout(TIMEOUT);
  await p2.goto(URL + '/ui/', { waitUntil: 'load' });
  await p2.waitForSelector('#token');
  await p2.type('#token', env('TOKEN_READ'));
  await p2.keyboard.press('Enter');
  await p2.waitForSelector('#alerts-body tr');
  await p2.goto(URL + '/ui/#/alert/' + id, { waitUntil: 'load' });
  await p2.waitForSelector('#triage-save');
  check(await p2.$eval('#triage-save', (b) => b.disabled), 'read role: the save button is disabled');
  await ctx.close();
} finally {
  await browser.close();
}

// layout against the previous run: the same elements laid out, widths within 25 %
const prevPath = process.env.PREV;
if (prevPath && fs.existsSync(prevPath)) {
  const prev = JSON.parse(fs.readFileSync(prevPath, 'utf8'));
  for (const [name, m] of Object.entries(layout)) {
    if (!prev[name]) continue;
    for (const [sel, r] of Object.entries(m.el)) {
      const p = prev[name].el[sel];
      if (!p || !r) continue;
      check(Math.abs(r.w - p.w) <= 0.25 * Math.max(p.w, 1), `${name}: ${sel} width ${r.w} vs ${p.w} before`);
    }
  }
} else {
  console.log('note: no previous layout.json: this run is the reference');
}
fs.writeFileSync(path.join(OUT, 'layout.json'), JSON.stringify(layout, null, 1));
console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
