/* kadet console: a single page over the JSON API (/api/v1/, docs/api.md). No framework: the DOM
 * is built with el() and textContent only (no HTML from data), routes are #/page/args. */
'use strict';

const S = { session: null, rules: null, es: null, page: null };
const SEVS = ['low', 'medium', 'high', 'critical'];
const STATUSES = ['open', 'acknowledged', 'closed'];

function el(tag, attrs, ...kids) {
  const svg = ['svg', 'rect', 'line', 'text', 'title', 'g'].includes(tag);
  const n = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'text') n.textContent = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    n.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return n;
}
const $ = (sel, root) => (root || document).querySelector(sel);

function say(msg, error) {
  const s = $('#status');
  s.textContent = msg || '';
  s.classList.toggle('error', !!error);
}

async function api(path, opts) {
  opts = opts || {};
  const headers = {};
  let body;
  if (opts.form) {
    body = new URLSearchParams(opts.form).toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  const method = opts.method || (opts.form ? 'POST' : 'GET');
  if (method !== 'GET' && S.session && S.session.csrf) headers['X-CSRF-Token'] = S.session.csrf;
  const r = await fetch('/api/v1/' + path, { method, headers, body, credentials: 'same-origin' });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== 'login') { showLogin(); throw new Error('please log in'); }
  if (!r.ok) throw new Error((data && data.error) || ('HTTP ' + r.status));
  return data;
}

const fmtTime = (t) => (t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const sevBadge = (s) => el('span', { class: 'sev sev-' + s, text: s });
const canTriage = () => S.session && (S.session.role === 'analyst' || S.session.role === 'admin');
const isAdmin = () => S.session && S.session.role === 'admin';

/* ---- login ---------------------------------------------------------------------------------- */

function showLogin() {
  S.session = null;
  if (S.es) { S.es.close(); S.es = null; }
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  const main = $('#main');
  main.replaceChildren();
  const form = el('form', { class: 'login', id: 'login-form' },
    el('h1', { text: 'Log in to kadet' }),
    el('label', {}, 'Access token', el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true })),
    el('button', { class: 'primary', type: 'submit', id: 'login-button', text: 'Log in' }),
    el('p', { class: 'muted', text: 'Use a token of a [[user]] in kadet serve\'s configuration, or a client certificate.' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      S.session = await api('login', { form: { token: $('#token').value } });
      say('');
      start();
    } catch (e) { say(e.message, true); }
  });
  main.append(form);
  $('#token').focus();
}

async function start() {
  try {
    S.session = await api('session');
  } catch (e) { return; }
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = S.session.principal + ' (' + S.session.role + ')';
  live();
  route();
}

function live() {
  if (S.es || !window.EventSource) return;
  S.es = new EventSource('/api/v1/events');
  S.es.addEventListener('alerts', (ev) => {
    const d = JSON.parse(ev.data);
    say(d.added + ' new alert' + (d.added === 1 ? '' : 's') + ' indexed');
    /* the first page follows new alerts unless the user paged further down */
    if (S.page === 'alerts' && $('#alerts-body') && !$('#alerts-more-used')) loadAlerts(true);
  });
}

/* ---- routing -------------------------------------------------------------------------------- */

function route() {
  if (!S.session) return;
  const parts = (location.hash || '#/alerts').slice(2).split('/');
  const page = parts[0] || 'alerts';
  S.page = page;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page || (page === 'alert' && a.dataset.page === 'alerts')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = $('#main');
  main.replaceChildren();
  const pages = { alerts: pageAlerts, alert: pageAlert, baselines: pageBaselines, rules: pageRules, health: pageHealth };
  (pages[page] || pageAlerts)(main, parts.slice(1).map(decodeURIComponent));
}

/* ---- alerts --------------------------------------------------------------------------------- */

async function rulesList() {
  if (!S.rules) S.rules = (await api('rules')).rules;
  return S.rules;
}

function filterValues() {
  const f = {};
  for (const k of ['rule', 'severity', 'user', 'status', 'q']) {
    const v = $('#f-' + k).value.trim();
    if (v) f[k] = v;
  }
  for (const k of ['from', 'to']) {
    const v = $('#f-' + k).value;
    if (v) f[k] = new Date(v + 'Z').toISOString();
  }
  return f;
}

function chart(buckets, bucketMs) {
  const W = 1000, H = 120, pad = 18;
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${W} ${H + pad}`, role: 'img', id: 'timeline',
    'aria-label': 'Alerts over time by severity' });
  if (!buckets.length) {
    svg.append(el('text', { x: 10, y: 40, text: 'No alerts in this range' }));
    return svg;
  }
  const by = new Map();
  for (const b of buckets) {
    const t = Date.parse(b.t);
    if (!by.has(t)) by.set(t, { t, total: 0, sev: {}, rules: {} });
    const e = by.get(t);
    e.total += b.n;
    e.sev[b.severity] = (e.sev[b.severity] || 0) + b.n;
    e.rules[b.rule_name] = (e.rules[b.rule_name] || 0) + b.n;
  }
  const ts = [...by.keys()].sort((a, b) => a - b);
  const t0 = ts[0], t1 = ts[ts.length - 1] + bucketMs;
  const n = Math.max(1, Math.round((t1 - t0) / bucketMs));
  const max = Math.max(...[...by.values()].map((e) => e.total));
  const bw = W / n;
  for (const t of ts) {
    const e = by.get(t);
    const x = ((t - t0) / bucketMs) * bw;
    let y = H;
    const g = el('g', {});
    const lines = Object.entries(e.rules).map(([r, c]) => `${r}: ${c}`);
    g.append(el('title', { text: `${fmtTime(new Date(t).toISOString())}: ${e.total} alerts\n${lines.join('\n')}` }));
    for (const s of SEVS) {
      const c = e.sev[s] || 0;
      if (!c) continue;
      const h = (c / max) * (H - 4);
      y -= h;
      g.append(el('rect', { x: x + 0.5, y, width: Math.max(1, bw - 1), height: h, class: 'bar-' + s }));
    }
    svg.append(g);
  }
  svg.append(el('text', { x: 2, y: H + 13, text: fmtTime(new Date(t0).toISOString()) }));
  svg.append(el('text', { x: W - 2, y: H + 13, 'text-anchor': 'end', text: fmtTime(new Date(t1).toISOString()) }));
  svg.append(el('text', { x: 2, y: 10, text: 'max ' + max + ' per bucket' }));
  return svg;
}

async function pageAlerts(main) {
  main.append(el('h1', { text: 'Alerts' }));
  const rules = await rulesList().catch(() => []);
  const form = el('form', { class: 'filters', id: 'filters' },
    el('label', {}, 'Rule', el('select', { id: 'f-rule' }, el('option', { value: '', text: 'any' }),
      rules.map((r) => el('option', { value: r.rule_id, text: r.name })))),
    el('label', {}, 'Severity', el('select', { id: 'f-severity' }, el('option', { value: '', text: 'any' }),
      SEVS.map((s) => el('option', { value: s, text: s })))),
    el('label', {}, 'User', el('input', { id: 'f-user', type: 'text', size: 18 })),
    el('label', {}, 'Status', el('select', { id: 'f-status' }, el('option', { value: '', text: 'any' }),
      STATUSES.map((s) => el('option', { value: s, text: s })))),
    el('label', {}, 'From (UTC)', el('input', { id: 'f-from', type: 'datetime-local' })),
    el('label', {}, 'To (UTC)', el('input', { id: 'f-to', type: 'datetime-local' })),
    el('label', {}, 'Text', el('input', { id: 'f-q', type: 'search', size: 16 })),
    el('button', { type: 'submit', class: 'primary', text: 'Apply' }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); loadAlerts(true); });
  main.append(form);
  main.append(el('div', { id: 'chart-box' }));
  main.append(el('div', { class: 'legend', 'aria-hidden': 'true' }, SEVS.map((s) => el('span', { class: 'l-' + s, text: s }))));
  const bulk = el('form', { class: 'row', id: 'bulk', hidden: !canTriage() },
    el('label', {}, 'Set status of selected', el('select', { id: 'bulk-status' }, STATUSES.map((s) => el('option', { value: s, text: s })))),
    el('label', {}, 'Note', el('input', { id: 'bulk-note', type: 'text', size: 24 })),
    el('button', { type: 'submit', id: 'bulk-apply', text: 'Apply to selected' }));
  bulk.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ids = [...document.querySelectorAll('input.pick:checked')].map((c) => c.value);
    if (!ids.length) return say('Select alerts first', true);
    const form2 = new URLSearchParams();
    ids.forEach((i) => form2.append('id', i));
    form2.append('status', $('#bulk-status').value);
    form2.append('note', $('#bulk-note').value);
    try {
      const r = await api('alerts/triage', { form: form2 });
      say(r.changed + ' alerts set to ' + r.workflow_status);
      loadAlerts(true);
    } catch (e) { say(e.message, true); }
  });
  main.append(bulk);
  main.append(el('p', {}, el('span', { id: 'alert-total', text: '…' }), ' alerts'));
  const table = el('table', { id: 'alerts-table' },
    el('caption', { text: 'Newest first' }),
    el('thead', {}, el('tr', {},
      el('th', {}, canTriage() ? el('input', { type: 'checkbox', id: 'pick-all', 'aria-label': 'Select all shown', onchange: (ev) => {
        document.querySelectorAll('input.pick').forEach((c) => { c.checked = ev.target.checked; });
      } }) : ''),
      el('th', { text: 'Event time' }), el('th', { text: 'Severity' }), el('th', { text: 'Rule', class: 'hide-narrow' }),
      el('th', { text: 'User' }), el('th', { text: 'New terms', class: 'hide-narrow' }), el('th', { text: 'Status' }))),
    el('tbody', { id: 'alerts-body' }));
  main.append(el('div', { class: 'tablewrap' }, table));
  main.append(el('p', {}, el('button', { id: 'more', type: 'button', hidden: true, text: 'Load more', onclick: () => {
    if (!$('#alerts-more-used')) main.append(el('span', { id: 'alerts-more-used', hidden: true }));
    loadAlerts(false);
  } })));
  await loadAlerts(true);
}

let nextCursor = null;
async function loadAlerts(reset) {
  if (!$('#filters') || !$('#alerts-body')) return; /* the page is being built or was left */
  const f = filterValues();
  const qs = new URLSearchParams(f);
  if (reset) {
    nextCursor = null;
    const tl = await api('alerts/timeline?' + new URLSearchParams({ ...f, bucket: '1h' })).catch((e) => { say(e.message, true); return null; });
    if (tl && $('#chart-box')) $('#chart-box').replaceChildren(chart(tl.buckets, tl.bucket_ms));
  } else if (nextCursor) qs.set('after', nextCursor);
  qs.set('limit', '100');
  let d;
  try { d = await api('alerts?' + qs); } catch (e) { return say(e.message, true); }
  const body = $('#alerts-body');
  if (!body || !$('#alert-total')) return;
  if (reset) body.replaceChildren();
  $('#alert-total').textContent = d.total;
  for (const a of d.alerts) {
    body.append(el('tr', { 'data-id': a.id },
      el('td', {}, canTriage() ? el('input', { type: 'checkbox', class: 'pick', value: a.id, 'aria-label': 'Select alert ' + a.id }) : ''),
      el('td', {}, el('a', { href: '#/alert/' + encodeURIComponent(a.id), text: fmtTime(a.time) })),
      el('td', {}, sevBadge(a.severity)),
      el('td', { class: 'hide-narrow', text: a.rule_name }),
      el('td', { class: 'wrap', text: a.user }),
      el('td', { class: 'wrap hide-narrow' }, a.new_terms.map((t, i) => [i ? ' · ' : '', el('mark', { text: t })])),
      el('td', { class: 'st-' + a.workflow_status, text: a.workflow_status })));
  }
  nextCursor = d.next;
  $('#more').hidden = !d.next;
}

/* ---- one alert ------------------------------------------------------------------------------ */

function markdown(md) {
  /* a small Markdown subset for investigation guides: headings, lists, code blocks, paragraphs,
     **bold**, `code`, [links](url); everything is text nodes, nothing is parsed as HTML */
  const root = el('div', { class: 'guide' });
  const inline = (s) => {
    const out = [];
    const re = /(\*\*[^*]+\*\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/g;
    let last = 0, m;
    while ((m = re.exec(s))) {
      if (m.index > last) out.push(s.slice(last, m.index));
      const t = m[0];
      if (t.startsWith('**')) out.push(el('strong', { text: t.slice(2, -2) }));
      else if (t.startsWith('`')) out.push(el('code', { text: t.slice(1, -1) }));
      else {
        const mm = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(t);
        const ok = /^https?:\/\//.test(mm[2]);
        out.push(ok ? el('a', { href: mm[2], rel: 'noopener noreferrer', target: '_blank', text: mm[1] }) : mm[1]);
      }
      last = m.index + t.length;
    }
    if (last < s.length) out.push(s.slice(last));
    return out;
  };
  const lines = (md || '').split('\n');
  let list = null, para = [];
  const flush = () => {
    if (para.length) { root.append(el('p', {}, inline(para.join(' ')))); para = []; }
    if (list) { root.append(list); list = null; }
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^```/.test(l)) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      root.append(el('pre', {}, el('code', { text: code.join('\n') })));
    } else if (/^#{1,6}\s/.test(l)) {
      flush();
      const lvl = Math.min(6, l.match(/^#+/)[0].length + 2);
      root.append(el('h' + lvl, {}, inline(l.replace(/^#+\s*/, ''))));
    } else if (/^\s*([-*]|\d+\.)\s+/.test(l)) {
      if (para.length) { root.append(el('p', {}, inline(para.join(' ')))); para = []; }
      if (!list) list = el(/^\s*\d+\./.test(l) ? 'ol' : 'ul', {});
      list.append(el('li', {}, inline(l.replace(/^\s*([-*]|\d+\.)\s+/, ''))));
    } else if (list && /^\s{2,}\S/.test(l) && !/^\s*([-*]|\d+\.)\s+/.test(l)) {
      /* a list item's continuation line */
      list.lastChild.append(' ', ...inline(l.trim()));
    } else if (!l.trim()) {
      /* a blank line ends a paragraph; a list goes on if the next line is an item */
      if (para.length) { root.append(el('p', {}, inline(para.join(' ')))); para = []; }
    } else {
      if (list) { root.append(list); list = null; }
      para.push(l.trim());
    }
  }
  flush();
  return root;
}

function strip(first, last, lo, hi) {
  const W = 160;
  const span = Math.max(1, hi - lo);
  const x0 = ((first - lo) / span) * W, x1 = ((last - lo) / span) * W;
  return el('svg', { class: 'strip', viewBox: `0 0 ${W} 14`, role: 'img', 'aria-label': `seen from ${fmtTime(new Date(first).toISOString())} to ${fmtTime(new Date(last).toISOString())}` },
    el('rect', { x: 0, y: 6, width: W, height: 2, class: 'strip-bg' }),
    el('rect', { x: x0, y: 2, width: Math.max(2, x1 - x0), height: 10, class: 'strip-bar' }));
}

function baselineTable(base, newTerms) {
  const seen = (base && base.seen) || [];
  if (!seen.length) return el('p', { class: 'muted', text: 'The state held no other combinations for this user.' });
  const keys = Object.keys(seen[0]).filter((k) => !['first_seen', 'last_seen', 'alerted'].includes(k));
  const times = seen.flatMap((s) => [Date.parse(s.first_seen), Date.parse(s.last_seen)]);
  const lo = Math.min(...times), hi = Math.max(...times);
  return el('div', { class: 'tablewrap' }, el('table', { id: 'baseline-table' },
    el('caption', { text: `${base.field} = ${base.value}: ${base.known_combinations} known combination(s)${base.truncated ? ' (list truncated)' : ''}` }),
    el('thead', {}, el('tr', {}, keys.map((k) => el('th', { text: k })), el('th', { text: 'First seen' }), el('th', { text: 'Last seen' }),
      el('th', { text: 'Seen', class: 'hide-narrow' }), el('th', { text: 'Alerted' }))),
    el('tbody', {}, seen.map((s) => el('tr', { class: 'baseline-row' },
      keys.map((k) => el('td', { class: 'wrap' }, newTerms.includes(String(s[k])) ? el('mark', { text: String(s[k]) }) : String(s[k]))),
      el('td', { text: fmtTime(s.first_seen) }), el('td', { text: fmtTime(s.last_seen) }),
      el('td', { class: 'hide-narrow' }, strip(Date.parse(s.first_seen), Date.parse(s.last_seen), lo, hi)),
      el('td', { text: s.alerted ? 'yes' : 'no' }))))));
}

function alertsTable(list, id) {
  if (!list || !list.length) return el('p', { class: 'muted', text: 'None.' });
  return el('div', { class: 'tablewrap' }, el('table', { id },
    el('thead', {}, el('tr', {}, el('th', { text: 'Event time' }), el('th', { text: 'Rule' }), el('th', { text: 'New terms' }), el('th', { text: 'Status' }))),
    el('tbody', {}, list.map((a) => el('tr', {},
      el('td', {}, el('a', { href: '#/alert/' + encodeURIComponent(a.id), text: fmtTime(a.time) })),
      el('td', { text: a.rule_name }), el('td', { class: 'wrap', text: a.new_terms.join(' · ') }),
      el('td', { class: 'st-' + a.workflow_status, text: a.workflow_status }))))));
}

function combosTable(list, id) {
  if (!list || !list.length) return el('p', { class: 'muted', text: 'None.' });
  return el('div', { class: 'tablewrap' }, el('table', { id },
    el('thead', {}, el('tr', {}, el('th', { text: 'Rule', class: 'hide-narrow' }), el('th', { text: 'Values' }), el('th', { text: 'First seen' }), el('th', { text: 'Last seen' }), el('th', { text: 'Alerted' }))),
    el('tbody', {}, list.map((c) => el('tr', { class: 'combo-row' },
      el('td', { class: 'hide-narrow', text: c.rule_name }), el('td', { class: 'wrap', text: c.values.join(' · ') }),
      el('td', { text: fmtTime(c.first_seen) }), el('td', { text: fmtTime(c.last_seen) }), el('td', { text: c.alerted ? 'yes' : 'no' }))))));
}

async function pageAlert(main, args) {
  const id = args[0];
  let d;
  try { d = await api('alerts/' + encodeURIComponent(id)); } catch (e) { main.append(el('p', { text: e.message })); return; }
  const a = d.alert, doc = d.document;
  main.append(el('p', {}, el('a', { href: '#/alerts', text: '← Alerts' })));
  main.append(el('h1', {}, sevBadge(a.severity), ' ', a.rule_name));
  main.append(el('p', { id: 'reason', text: a.reason }));
  main.append(el('p', {}, 'Event time ', el('strong', { text: fmtTime(a.time) }), ' · user ', el('strong', { text: a.user }),
    ' · status ', el('strong', { id: 'alert-status', class: 'st-' + a.workflow_status, text: a.workflow_status }),
    a.note ? [' · note: ', el('em', { text: a.note })] : ''));
  if (a.new_terms.length) {
    const fields = (d.rule && d.rule.new_terms_fields) || [];
    main.append(el('h2', { text: 'New terms' }));
    main.append(el('div', { class: 'tablewrap' }, el('table', { id: 'new-terms' },
      el('tbody', {}, a.new_terms.map((t, i) => el('tr', {}, el('th', { text: fields[i] || ('term ' + (i + 1)) }), el('td', {}, el('mark', { text: t }))))))));
  }
  /* triage */
  const tri = el('form', { class: 'row', id: 'triage' },
    el('label', {}, 'Workflow status', el('select', { id: 'triage-status' }, STATUSES.map((s) => el('option', { value: s, text: s, selected: s === a.workflow_status })))),
    el('label', {}, 'Note', el('input', { id: 'triage-note', type: 'text', size: 30, value: a.note })),
    el('button', { type: 'submit', class: 'primary', id: 'triage-save', text: 'Save status', disabled: !canTriage() }));
  tri.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('alerts/triage', { form: { id: a.id, status: $('#triage-status').value, note: $('#triage-note').value } });
      say('Status saved');
      route();
    } catch (e) { say(e.message, true); }
  });
  main.append(el('h2', { text: 'Triage' }), tri);
  if (!canTriage()) main.append(el('p', { class: 'muted', text: 'Your role can read, not triage.' }));
  /* exception */
  const exc = el('section', { id: 'exception' }, el('h2', { text: 'Add exception' }));
  main.append(exc);
  if (canTriage()) {
    const pre = await api('exceptions/prefill?alert=' + encodeURIComponent(a.id)).catch((e) => { say(e.message, true); return null; });
    if (pre) {
      const form = el('form', { id: 'exception-form' },
        el('p', { class: 'muted', text: 'Documents matching every checked entry will not raise alerts of this rule (detection-rules exception list, written to ' + (pre.directory || 'no directory') + ').' }),
        pre.entries.map((e, i) => el('div', { class: 'row' },
          el('label', { class: 'inline' }, el('input', { type: 'checkbox', class: 'exc-use', checked: true, 'data-i': i }), e.field),
          el('label', {}, 'Value', el('input', { type: 'text', class: 'exc-value', 'data-field': e.field, value: e.value, size: 40 })))),
        el('div', { class: 'row' },
          el('label', {}, 'Expires (UTC, empty: never)', el('input', { id: 'exc-expires', type: 'datetime-local', value: pre.expires ? pre.expires.slice(0, 16) : '' })),
          el('label', {}, 'Reason', el('input', { id: 'exc-note', type: 'text', size: 30 }))),
        el('div', { class: 'row' },
          el('button', { type: 'button', id: 'exc-preview', text: 'Preview' }),
          el('button', { type: 'submit', class: 'primary', id: 'exc-add', text: 'Add exception and reload' })),
        el('p', { id: 'exc-result', role: 'status', text: `Would have suppressed ${pre.would_suppress} past alert(s).` }));
      const collect = (dry) => {
        const f = new URLSearchParams();
        f.append('alert', a.id);
        document.querySelectorAll('.exc-value').forEach((inp, i) => {
          if (document.querySelectorAll('.exc-use')[i].checked) { f.append('field', inp.dataset.field); f.append('value', inp.value); }
        });
        const exp = $('#exc-expires').value;
        if (exp) f.append('expires', new Date(exp + 'Z').toISOString());
        f.append('note', $('#exc-note').value);
        if (dry) f.append('dry_run', '1');
        return f;
      };
      form.querySelector('#exc-preview').addEventListener('click', async () => {
        try {
          const r = await api('exceptions', { form: collect(true) });
          $('#exc-result').textContent = `Would have suppressed ${r.would_suppress} past alert(s).`;
        } catch (e) { say(e.message, true); }
      });
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          const r = await api('exceptions', { form: collect(false) });
          $('#exc-result').textContent = `Exception written to ${r.file}; ${r.message || 'reloaded'}. It would have suppressed ${r.would_suppress} past alert(s).`;
          S.rules = null;
        } catch (e) { say(e.message, true); }
      });
      exc.append(form);
    }
  } else exc.append(el('p', { class: 'muted', text: 'Your role cannot add exceptions.' }));
  /* baseline, guide, context */
  main.append(el('h2', { text: 'Baseline of this user (kadet.baseline)' }), baselineTable(doc['kadet.baseline'], a.new_terms));
  main.append(el('div', { class: 'grid2' },
    el('section', {}, el('h2', { text: 'Other alerts of this user (±1 h)' }), alertsTable(d.nearby_alerts, 'nearby-alerts')),
    el('section', {}, el('h2', { text: 'Combinations of this user active ±1 h (state)' }), combosTable(d.nearby_combinations, 'nearby-combos'))));
  const inp = el('section', { id: 'input-events', 'aria-busy': 'true' }, el('h2', { text: 'Events of this user ±1 h (recent input)' }));
  main.append(inp);
  api('alerts/' + encodeURIComponent(a.id) + '/events').then((r) => {
    r.alert_time = a.time;
    inp.append(inputTable(r));
  }).catch((e) => inp.append(el('p', { class: 'muted', id: 'input-none', text: e.message })))
    .finally(() => inp.setAttribute('aria-busy', 'false'));
  if (d.rule && d.rule.note) main.append(el('h2', { text: 'Investigation guide' }), markdown(d.rule.note));
  const audit = doc.kubernetes && doc.kubernetes.audit;
  main.append(el('details', {}, el('summary', { text: 'Audit event (kubernetes.audit)' }), el('pre', { text: JSON.stringify(audit || {}, null, 2) })));
  main.append(el('details', {}, el('summary', { text: 'Alert document (ECS)' }), el('pre', { id: 'alert-json', text: JSON.stringify(doc, null, 2) })));
}

/* The alert's user's events around it, from serve's recent input (GET alerts/ID/events). */
function inputTable(d) {
  const evs = (d && d.input && d.input.events) || [];
  const st = d && d.input && d.input.store;
  const note = st ? `Recent input holds ${st.events} event(s) read since ${fmtTime(st.oldest_read) || '—'}` +
    (st.evicted ? `; ${st.evicted} older ones were evicted` : '') + '.' : '';
  if (!evs.length) return el('p', { class: 'muted', id: 'input-none', text: 'No events of this user in the recent input. ' + note });
  return el('div', {},
    el('p', { class: 'muted', text: `${d.input.matched} event(s) of ${d.user} from ${fmtTime(d.from)} to ${fmtTime(d.to)}` +
      (d.input.truncated ? `, the ${evs.length} nearest shown` : '') + '. ' + note }),
    el('div', { class: 'tablewrap' }, el('table', { id: 'input-table' },
      el('caption', { text: 'Events of this user (time, verb, resource, decision, user agent, source IP); expand a row for the raw event' }),
      el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Verb' }), el('th', { text: 'Resource' }),
        el('th', { text: 'Decision' }), el('th', { text: 'User agent', class: 'hide-narrow' }), el('th', { text: 'Source IP', class: 'hide-narrow' }))),
      el('tbody', {}, evs.map((e) => {
        let raw = e.raw;
        try { raw = JSON.stringify(JSON.parse(e.raw), null, 2); } catch (x) { /* shown as it came */ }
        const res = (e.resource || '') + (e.subresource ? '/' + e.subresource : '');
        return el('tr', { class: 'input-row' + (e.time === d.alert_time ? ' is-alert' : '') },
          el('td', {}, el('details', {}, el('summary', { text: fmtTime(e.time) }),
            el('pre', { class: 'raw', text: raw !== null && raw !== undefined ? raw : JSON.stringify(e.document, null, 2) }))),
          el('td', { text: e.verb || '' }), el('td', { class: 'wrap', text: res }),
          el('td', { text: e.decision || '' }), el('td', { class: 'wrap hide-narrow', text: e.user_agent || '' }),
          el('td', { class: 'hide-narrow', text: e.source_ip || '' }));
      })))));
}

/* ---- baselines ------------------------------------------------------------------------------ */

function perDay(combos) {
  /* how many combinations were in use each day (first..last seen) */
  const days = new Map();
  for (const c of combos) {
    const a = Math.floor(Date.parse(c.first_seen) / 864e5), b = Math.floor(Date.parse(c.last_seen) / 864e5);
    for (let d = a; d <= b && d - a < 400; d++) days.set(d, (days.get(d) || 0) + 1);
  }
  const ks = [...days.keys()].sort((x, y) => x - y);
  if (!ks.length) return el('p', {});
  const W = 1000, H = 80, n = ks[ks.length - 1] - ks[0] + 1, bw = W / n, max = Math.max(...days.values());
  return el('svg', { class: 'chart', viewBox: `0 0 ${W} ${H + 16}`, role: 'img', 'aria-label': 'Combinations in use per day', id: 'per-day' },
    ks.map((d) => el('rect', { x: (d - ks[0]) * bw + 0.5, y: H - (days.get(d) / max) * (H - 4), width: Math.max(1, bw - 1), height: (days.get(d) / max) * (H - 4), class: 'bar-low' },
      el('title', { text: new Date(d * 864e5).toISOString().slice(0, 10) + ': ' + days.get(d) }))),
    el('text', { x: 2, y: H + 12, text: new Date(ks[0] * 864e5).toISOString().slice(0, 10) }),
    el('text', { x: W - 2, y: H + 12, 'text-anchor': 'end', text: new Date(ks[ks.length - 1] * 864e5).toISOString().slice(0, 10) }));
}

async function pageBaselines(main, args) {
  main.append(el('h1', { text: 'Baselines' }));
  const form = el('form', { class: 'filters', id: 'baseline-form' },
    el('label', {}, 'User', el('input', { id: 'b-user', type: 'text', value: args[0] || '' })),
    el('label', {}, 'User agent', el('input', { id: 'b-user_agent', type: 'text' })),
    el('label', {}, 'Decision', el('select', { id: 'b-decision' }, ['', 'allow', 'forbid'].map((v) => el('option', { value: v, text: v || 'any' })))),
    el('button', { type: 'submit', class: 'primary', text: 'Look up' }));
  const out = el('div', { id: 'baseline-out' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = {};
    for (const k of ['user', 'user_agent', 'decision']) { const v = $('#b-' + k).value.trim(); if (v) q[k] = v; }
    try {
      const d = await api('baseline?' + new URLSearchParams(q));
      const byRule = new Map();
      for (const c of d.combinations) { if (!byRule.has(c.rule_name)) byRule.set(c.rule_name, []); byRule.get(c.rule_name).push(c); }
      out.replaceChildren(el('p', { text: `${d.combinations.length} combination(s)${d.truncated ? ' (truncated)' : ''}` }), perDay(d.combinations));
      for (const [r, list] of byRule) out.append(el('h2', { text: `${r}: ${list.length}` }), combosTable(list, 'baseline-' + list[0].rule_id));
    } catch (e) { say(e.message, true); }
  });
  main.append(form, out);
  if (args[0]) form.requestSubmit();
  main.append(el('h2', { text: 'Learned allow-list proposals' }));
  const props = el('div', { id: 'proposals' }, el('p', { class: 'muted', text: 'Loading…' }));
  main.append(props);
  try {
    const p = await api('proposals');
    props.replaceChildren(p.proposals.length ? '' : el('p', { class: 'muted', text: 'No proposals: no combination stayed in use through a whole baseline.' }));
    for (const x of p.proposals) {
      props.append(el('details', {}, el('summary', { text: `${x.rule_name}: ${x.items} item(s)` }), el('pre', { text: x.toml }),
        canTriage() ? el('button', { type: 'button', text: 'Accept as exceptions', onclick: async () => {
          try { const r = await api('proposals', { form: { rule: x.rule_id } }); say('Written to ' + r.file); } catch (e) { say(e.message, true); }
        } }) : ''));
    }
  } catch (e) { props.replaceChildren(el('p', { class: 'muted', text: e.message })); }
}

/* ---- rules ---------------------------------------------------------------------------------- */

async function pageRules(main) {
  main.append(el('h1', { text: 'Rules' }));
  S.rules = null;
  let d;
  try { d = await api('rules'); } catch (e) { return say(e.message, true); }
  S.rules = d.rules;
  if (isAdmin()) {
    main.append(el('p', {}, el('button', { type: 'button', id: 'reload', text: 'Reload rules and exceptions', onclick: async () => {
      try { const r = await api('rules/reload', { form: {} }); say(r.message || 'reloaded'); route(); } catch (e) { say(e.message, true); }
    } })));
  }
  main.append(el('div', { class: 'tablewrap' }, el('table', { id: 'rules-table' },
    el('caption', { text: `${d.rules.length} rules from ${d.files} file(s)` }),
    el('thead', {}, el('tr', {}, el('th', { text: 'Rule' }), el('th', { text: 'Type' }), el('th', { text: 'Status' }), el('th', { text: 'Severity', class: 'hide-narrow' }),
      el('th', { text: 'Alerts 24 h', class: 'num' }), el('th', { text: 'Alerts 7 d', class: 'num' }), el('th', { text: 'File', class: 'hide-narrow' }))),
    el('tbody', {}, d.rules.map((r) => el('tr', { class: 'rule-row', 'data-status': r.status },
      el('td', { class: 'wrap' }, el('details', {}, el('summary', { text: r.name }),
        el('p', { class: 'muted', text: r.rule_id }), el('p', { text: r.description || '' }),
        r.query ? el('pre', { text: r.query }) : '', r.note ? markdown(r.note) : '')),
      el('td', { text: r.type }),
      el('td', { class: 'rule-status' }, r.status, r.reason ? [': ', el('span', { class: 'reason', text: r.reason })] : ''),
      el('td', { class: 'hide-narrow' }, r.severity ? sevBadge(r.severity) : ''),
      el('td', { class: 'num', text: r.alerts_24h }), el('td', { class: 'num', text: r.alerts_7d }),
      el('td', { class: 'hide-narrow wrap', text: `${r.file}:${r.line}` })))))));
  if (d.diagnostics.length) {
    main.append(el('h2', { text: 'Diagnostics' }), el('ul', { id: 'diagnostics' }, d.diagnostics.map((x) => el('li', { text: x }))));
  }
}

/* ---- health --------------------------------------------------------------------------------- */

function human(v) {
  const n = Number(v);
  if (!isFinite(n)) return v;
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + ' k';
  return String(Math.round(n * 100) / 100);
}

let healthTimer = null;
let healthPrev = null; /* the previous metrics sample: {t, values} for rates */

function parseMetrics(text) {
  const rows = [], help = {};
  for (const line of (text || '').split('\n')) {
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) { help[m[1]] = m[2]; continue; }
    if (!line || line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) rows.push({ name: m[1], labels: m[2] || '', value: m[3] });
  }
  return { rows, help };
}

async function pageHealth(main) {
  main.append(el('h1', { text: 'Health' }));
  const body = el('div', { id: 'health-body' });
  main.append(body);
  healthPrev = null;
  await renderHealth(body);
  /* every 5 s while the page is shown: counters become rates */
  if (healthTimer) clearInterval(healthTimer);
  healthTimer = setInterval(() => {
    const b = document.querySelector('#health-body');
    if (!b || S.page !== 'health') { clearInterval(healthTimer); healthTimer = null; return; }
    renderHealth(b);
  }, 5000);
}

async function renderHealth(body) {
  let d;
  try { d = await api('health'); } catch (e) { return say(e.message, true); }
  const st = d.state_stats || {};
  const { rows, help } = parseMetrics(d.metrics);
  const now = Date.now(), values = {};
  for (const r of rows) values[r.name + r.labels] = Number(r.value);
  const prev = healthPrev;
  healthPrev = { t: now, values };
  const rate = (r) => {
    if (!prev || !/_total$/.test(r.name)) return '';
    const before = prev.values[r.name + r.labels];
    const dt = (now - prev.t) / 1000;
    if (before === undefined || dt <= 0) return '';
    return human((Number(r.value) - before) / dt) + '/s';
  };
  body.replaceChildren(
    el('div', { class: 'cards' },
      el('div', { class: 'card' }, el('div', { class: 'muted', text: 'Alerts indexed' }), el('div', { class: 'big', id: 'h-alerts', text: d.alerts_indexed })),
      el('div', { class: 'card' }, el('div', { class: 'muted', text: 'Baseline combinations' }), el('div', { class: 'big', text: human(st.combinations || 0) })),
      el('div', { class: 'card' }, el('div', { class: 'muted', text: 'Inputs tracked' }), el('div', { class: 'big', text: st.inputs || 0 })),
      el('div', { class: 'card' }, el('div', { class: 'muted', text: 'State size' }), el('div', { class: 'big', text: human(st.db_bytes || 0) + 'B' }))),
    el('p', { class: 'muted', text: `state ${d.state || '-'} · alerts file ${d.output || '-'} · index ${d.alert_index || 'memory'}` }),
    el('h2', { text: 'Metrics' }),
    el('div', { class: 'tablewrap' }, el('table', { id: 'metrics' },
      el('caption', { text: 'Refreshed every 5 s; rates are per second since the previous refresh' }),
      el('thead', {}, el('tr', {}, el('th', { text: 'Metric' }), el('th', { text: 'Labels', class: 'hide-narrow' }),
        el('th', { text: 'Value', class: 'num' }), el('th', { text: 'Rate', class: 'num' }))),
      el('tbody', {}, rows.map((r) => el('tr', {},
        el('td', {}, r.name.replace(/^kadet_/, '').replace(/_total$/, '').replace(/_/g, ' '), help[r.name] ? el('div', { class: 'muted', text: help[r.name] }) : ''),
        el('td', { class: 'hide-narrow wrap', text: r.labels }), el('td', { class: 'num', title: r.value, text: human(r.value) }),
        el('td', { class: 'num', text: rate(r) })))))),
    ...(st.counters ? [el('h2', { text: 'State counters' }), el('div', { class: 'tablewrap' }, el('table', {},
      el('tbody', {}, Object.entries(st.counters).map(([k, v]) => el('tr', {}, el('td', { text: k }), el('td', { class: 'num', text: human(v) }))))))] : []));
}

/* ---- start ---------------------------------------------------------------------------------- */

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  $('#logout').addEventListener('click', async () => {
    try { await api('session', { method: 'DELETE' }); } catch (e) { /* logged out anyway */ }
    showLogin();
  });
  start();
});
