// DOM helpers. Data never becomes markup: every string given to h() turns into
// a text node or an attribute value, never HTML.

// h('div', {class: 'x', testid: 'y', onclick: fn}, 'text', child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'testid') el.setAttribute('data-testid', v);
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled' || k === 'multiple') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// Returns the absolute URL when it is http: or https:, else null.
export function safeUrl(u) {
  if (typeof u !== 'string' || u === '') return null;
  try {
    const url = new URL(u, window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// A link to an outside page, or the text itself when the URL is not http(s).
export function externalLink(u, label, testid) {
  if (!u) return h('span', { class: 'muted', testid }, '—');
  const safe = safeUrl(u);
  if (!safe) return h('span', { class: 'unsafe-url', testid, title: 'Not a web address; shown as text' }, String(u));
  return h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer', testid }, label || String(u));
}

export function fmtTime(t) {
  if (t === undefined || t === null || t === '') return '—';
  let d;
  if (typeof t === 'number') d = new Date(t * 1000);
  else d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
}

// A provenance date as the source gave it: a calendar date stays a date (no
// invented time of day); a date with a time is shown in UTC like fmtTime.
export function fmtDate(t) {
  if (typeof t === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(t)) return t;
  return fmtTime(t);
}

export function fmtScore(s) {
  const n = Number(s);
  return Number.isFinite(n) ? n.toFixed(2) : '—';
}

export function userName(u) {
  if (u === undefined || u === null || u === '') return '—';
  if (typeof u === 'string') return u;
  return u.username || u.display_name || (u.id !== undefined ? `#${u.id}` : '—');
}

// What "the deployment's default" retention of probe photos is, in words, or
// null when the server did not say (`deployment` is GET /me's; the server's
// --case-retention-days, 0 = kept).
export function deploymentRetention(deployment) {
  const days = deployment ? deployment.case_retention_days : undefined;
  if (typeof days !== 'number') return null;
  if (days > 0) return `${days} day${days === 1 ? '' : 's'} after upload`;
  return 'until the case is deleted';
}

// "the deployment's default (30 days after upload)".
export function defaultRetentionText(deployment) {
  const words = deploymentRetention(deployment);
  return words ? `the deployment's default (${words})` : "the deployment's default";
}

const BAND_TEXT = {
  strong: 'Strong',
  possible: 'Possible',
  weak: 'Weak',
  unlikely: 'Unlikely',
};

// A badge that says its band in words (colour is only a second cue).
export function bandBadge(band, testid = 'candidate-band') {
  const known = Object.prototype.hasOwnProperty.call(BAND_TEXT, band);
  return h(
    'span',
    { class: `badge band-${known ? band : 'unknown'}`, testid, 'data-band': known ? band : 'unknown' },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    `${known ? BAND_TEXT[band] : String(band || 'unknown')} similarity`,
  );
}

export const CATEGORIES = [
  ['serious_crime', 'Serious crime'],
  ['missing_person', 'Missing person'],
  ['victim_identification', 'Victim identification'],
  ['counter_terrorism', 'Counter-terrorism'],
  ['other', 'Other'],
];

export function categoryText(c) {
  const f = CATEGORIES.find(([k]) => k === c);
  return f ? f[1] : String(c || '—');
}

export const DECISIONS = [
  ['possible_match', 'Possible match'],
  ['not_a_match', 'Not a match'],
  ['inconclusive', 'Inconclusive'],
];

export function decisionText(d) {
  const f = DECISIONS.find(([k]) => k === d);
  return f ? f[1] : String(d || '—');
}

// A form field: label + control, joined by id.
let fieldSeq = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  const parts = [h('label', { for: id }, labelText), control];
  if (hint) {
    const hid = `${id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function messageBox(kind, text, testid) {
  return h('p', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status', testid }, text);
}

// A table inside a horizontally scrollable, focusable wrapper.
export function table(caption, headers, rows) {
  return h(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      null,
      h('caption', { class: 'sr-only' }, caption),
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows),
    ),
  );
}

// Absolutely positioned box over an image, in percent of the image's own
// size so it follows the displayed size.
export function placeBox(el, box, width, height) {
  if (box && !Array.isArray(box) && typeof box === 'object') box = [box.x, box.y, box.width ?? box.w, box.height ?? box.h];
  if (!Array.isArray(box) || box.length < 4 || !(width > 0) || !(height > 0)) return false;
  const [x, y, w, hh] = box.map(Number);
  if (![x, y, w, hh].every(Number.isFinite)) return false;
  el.style.left = `${(x / width) * 100}%`;
  el.style.top = `${(y / height) * 100}%`;
  el.style.width = `${(w / width) * 100}%`;
  el.style.height = `${(hh / height) * 100}%`;
  return true;
}
