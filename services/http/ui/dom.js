// dom.js — building the page: elements, form fields with their labels,
// tables, error boxes, dates and the console's own URLs. Everything is
// built with DOM calls (no innerHTML), so no text from the API can
// become markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'for') el.htmlFor = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// A labelled field: the label, the control, and a slot for the rule's
// refusal when it concerns this field (aria-describedby points at it).
export function field(label, control, hint) {
  const id = control.id;
  const error = h('p', { class: 'field-error', id: id + '-error', 'aria-live': 'polite' });
  control.setAttribute('aria-describedby', id + '-error' + (hint ? ' ' + id + '-hint' : ''));
  return h('div', { class: 'field', 'data-field': id },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null,
    error);
}

export function input(id, attrs = {}) {
  return h('input', { id, name: id, type: 'text', autocomplete: 'off', ...attrs });
}

export function select(id, options, value) {
  return h('select', { id, name: id },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

export function checkbox(id, label, checked, onchange) {
  return h('div', { class: 'field check' },
    h('input', { id, name: id, type: 'checkbox', checked, onchange }),
    h('label', { for: id }, label));
}

// A table; rows are arrays of cells (strings or nodes). numeric: indexes
// of right-aligned columns.
export function table(caption, headers, rows, numeric = []) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((t, i) =>
        h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null }, t)))),
      h('tbody', {}, rows.length === 0
        ? h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing here.'))
        : rows.map((r) => h('tr', {}, r.map((c, i) =>
          h('td', { class: numeric.includes(i) ? 'num' : null, 'data-label': headers[i] }, c)))))));
}

// An error from the API, as the rule's code and message. A 401 or 403
// asks the shell for a token.
export function errorBox(err) {
  if (err && (err.status === 401 || err.status === 403))
    window.dispatchEvent(new CustomEvent('lotline:token-needed'));
  return h('div', { class: 'error', role: 'alert' },
    h('strong', { class: 'code' }, (err && err.code) || 'ERROR'), ' ',
    h('span', { class: 'message' }, (err && err.message) || String(err)));
}

export function notice(text, kind = 'ok') {
  return h('div', { class: 'notice ' + kind, role: 'status' }, text);
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, 'Loading…');
}

// datetime-local value (local time, seconds) <-> RFC 3339 in UTC.
export function toIso(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? local : d.toISOString().replace('.000Z', 'Z');
}

export function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function showTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

const enc = encodeURIComponent;

// A lot's reference {lot_id, product_id} from anything that names one
// (a lot, a list row, a trace node, a delivery, a move's answer).
export function lotRef(x) {
  return { lot_id: x.lot_id, product_id: x.product_id || undefined };
}

// The console's URL of a lot (and a tab): product-scoped when the product
// is known, since a lot id alone may name lots of several products
// (docs/api.md); the plain /ui/lots/{lot_id} only for a lot id typed alone.
export function lotHref(ref, tab) {
  const base = ref.product_id
    ? `/ui/products/${enc(ref.product_id)}/lots/${enc(ref.lot_id)}`
    : `/ui/lots/${enc(ref.lot_id)}`;
  return tab && tab !== 'view' ? base + '/' + tab : base;
}

// A link to a lot, under its product when x names one.
export function lotLink(x, tab) {
  return h('a', { href: lotHref(lotRef(x), tab) }, x.lot_id);
}

// The move form, filled in for a lot when one is given.
export function moveHref(ref) {
  if (!ref) return '/ui/moves/new';
  const q = new URLSearchParams({ lot_id: ref.lot_id });
  if (ref.product_id) q.set('product_id', ref.product_id);
  return '/ui/moves/new?' + q.toString();
}

// The four dates of a lot, in form order, with their labels.
export const DATES = [
  ['expiration_at', 'Expiration date'],
  ['use_by_at', 'Use-by date'],
  ['removal_at', 'Removal date'],
  ['alert_at', 'Alert date'],
];

export const USAGES = ['INTERNAL', 'TRANSIT', 'SUPPLIER', 'CUSTOMER',
  'INVENTORY', 'PRODUCTION', 'SCRAP'];

// Show a refusal next to the field it concerns (or at the form's top),
// keeping what was typed. fields: {code: field id}; a MISSING_FIELD or
// INVALID_FIELD names its field in the message.
export function clearRefusal(form) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  form.querySelector('.form-error').replaceChildren();
}

export function showRefusal(form, err, byCode) {
  clearRefusal(form);
  const top = form.querySelector('.form-error');
  let id = byCode[err.code];
  if (!id) {
    for (const c of form.querySelectorAll('input, select, textarea'))
      if (err.message && new RegExp(`'${c.id}'|\\b${c.id}\\b`).test(err.message)) { id = c.id; break; }
  }
  const slot = id && form.querySelector('#' + id + '-error');
  if (!slot) {
    top.append(errorBox(err));
    return;
  }
  slot.replaceChildren(h('strong', { class: 'code' }, err.code), ' ', err.message);
  const control = form.querySelector('#' + id);
  control.setAttribute('aria-invalid', 'true');
  control.focus();
}

// Quantities are exact decimals with at most 6 decimals (docs/api.md):
// added as integers of millionths, never as floating point.
export function addDecimal(a, b) {
  const micro = (s) => {
    const [whole, frac = ''] = s.replace('-', '').split('.');
    const v = BigInt(whole) * 1000000n + BigInt((frac + '000000').slice(0, 6));
    return s.startsWith('-') ? -v : v;
  };
  const sum = micro(a) + micro(b);
  const abs = sum < 0n ? -sum : sum;
  const frac = String(abs % 1000000n).padStart(6, '0').replace(/0+$/, '');
  return (sum < 0n ? '-' : '') + String(abs / 1000000n) + (frac ? '.' + frac : '');
}

// Answers can arrive out of order (a slow first load, then a quick second
// one): latest(load) gives a function that runs load(current, ...args),
// and load draws only while current() is true: no newer call started.
export function latest(load) {
  let last = 0;
  return (...args) => {
    const mine = ++last;
    return load(() => mine === last, ...args);
  };
}
