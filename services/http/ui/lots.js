// lots.js — the lots list (/ui/lots) and the create form (/ui/lots/new).
// Every lot is linked under its product (/ui/products/{p}/lots/{l}): two
// products may have a lot with the same id.
import * as api from './api.js';
import {
  h, field, input, select, table, errorBox, notice, loading, toIso, showTime,
  lotLink, lotHref, lotRef, DATES, showRefusal, clearRefusal, latest,
} from './dom.js';

const PAGE_SIZES = ['10', '50', '200'];
// Filters the API has no parameter for (on hand, tracking) are applied
// here: whole API pages are read until a page's worth matches, at most
// this many pages per screen.
const SCAN_PAGES_MAX = 20;

function matches(lot, f) {
  if (f.tracking && lot.tracking !== f.tracking) return false;
  if (f.on_hand === 'yes' && !(Number(lot.on_hand) > 0)) return false;
  if (f.on_hand === 'no' && Number(lot.on_hand) > 0) return false;
  return true;
}

// One screen of lots from cursor: {lots, next}.
async function fetchScreen(f, cursor) {
  const size = Number(f.limit);
  const query = { product_id: f.product_id, limit: size, cursor };
  if (f.expiring_before) query.expiring_before = toIso(f.expiring_before);
  else query.q = f.q;
  const lots = [];
  let next = cursor;
  for (let i = 0; i < SCAN_PAGES_MAX; i++) {
    query.cursor = next;
    const { body } = await api.listLots(query);
    lots.push(...body.lots.filter((l) => matches(l, f)));
    next = body.next_cursor;
    if (!next || lots.length >= size) break;
  }
  return { lots, next };
}

function lotRows(lots) {
  return lots.map((l) => [lotLink(l), l.name, l.product_id, l.tracking, l.on_hand,
    showTime(l.removal_at || l.expiration_at)]);
}

export async function lotsPage(main) {
  const f = { q: '', product_id: '', on_hand: '', tracking: '', expiring_before: '', limit: '50' };
  const cursors = [null]; // the cursor of each screen seen, for Previous
  const results = h('div', { class: 'results' });
  const form = h('form', { class: 'filters', role: 'search' },
    field('Search by name', input('q', { type: 'search', placeholder: 'id, name or reference' })),
    field('Product', input('product_id')),
    field('On hand', select('on_hand', [['', 'Any'], ['yes', 'On hand'], ['no', 'None on hand']])),
    field('Tracking', select('tracking', [['', 'Any'], ['LOT', 'Lot'], ['SERIAL', 'Serial']])),
    field('Expiring before', input('expiring_before', { type: 'datetime-local', step: '1' }),
      'FEFO order; only lots on hand'),
    field('Per page', select('limit', PAGE_SIZES.map((n) => [n, n]), '50')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search')));

  const show = latest(async (current, index) => {
    results.replaceChildren(loading());
    try {
      const { lots, next } = await fetchScreen(f, cursors[index]);
      if (!current()) return;
      cursors.length = index + 1;
      if (next) cursors.push(next);
      const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
        h('button', { type: 'button', disabled: index === 0, onclick: () => show(index - 1) }, 'Previous page'),
        h('span', {}, `Page ${index + 1}`),
        h('button', { type: 'button', disabled: !next, onclick: () => show(index + 1) }, 'Next page'));
      results.replaceChildren(
        table(`${lots.length} lot${lots.length === 1 ? '' : 's'}`,
          ['Lot ID', 'Name', 'Product', 'Tracking', 'On hand', 'Removal / expiry'], lotRows(lots), [4]),
        pager);
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    for (const k of Object.keys(f)) f[k] = form.elements[k].value.trim();
    cursors.length = 1;
    show(0);
  });
  main.append(h('h1', {}, 'Lots'),
    h('p', {}, h('a', { href: '/ui/lots/new', class: 'button' }, 'New lot')), form, results);
  await show(0);
}

// ---- create ----

// Where a refusal of a create is shown: the rule's code -> field id.
const CREATE_FIELD_OF = {
  DUPLICATE_LOT: 'name',
  LOT_ID_TAKEN: 'lot_id',
  TRACKING_MISMATCH: 'tracking',
  INVALID_DATES: 'alert_at',
};

function createForm() {
  return h('form', { class: 'lot-form', novalidate: true },
    h('div', { class: 'form-error' }),
    field('Product', input('product_id', { required: true })),
    field('Name', input('name', { required: true }), 'the lot or serial number as people know it'),
    field('Tracking', select('tracking', [['LOT', 'Lot'], ['SERIAL', 'Serial']], 'LOT')),
    field('Lot ID', input('lot_id'), 'optional; generated when empty'),
    field('Reference', input('reference')),
    field('Description', h('textarea', { id: 'description', name: 'description', rows: 3 })),
    DATES.map(([id, label]) => field(label, input(id, { type: 'datetime-local', step: '1' }))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', name: 'create', value: 'open' }, 'Create'),
      h('button', { type: 'submit', name: 'create', value: 'another' }, 'Create & Create Another'),
      h('a', { href: '/ui/lots', class: 'button secondary', id: 'cancel' }, 'Cancel')),
    h('div', { class: 'created', 'aria-live': 'polite' }));
}

function generatedLotId(product) {
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  return `${product}-${day}-${api.randomId(3).toUpperCase()}`;
}

function createBody(form) {
  const v = (id) => form.elements[id].value.trim();
  const body = { product_id: v('product_id'), name: v('name'), tracking: v('tracking') };
  body.lot_id = v('lot_id') || generatedLotId(body.product_id);
  for (const id of ['reference', 'description']) if (v(id)) body[id] = v(id);
  for (const [id] of DATES) if (v(id)) body[id] = toIso(v(id));
  return body;
}

export async function newLotPage(main, navigate) {
  const form = createForm();
  let retry = null; // {text, key}: a create that got no answer is resent with its key
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const another = e.submitter && e.submitter.value === 'another';
    const body = createBody(form);
    const text = JSON.stringify(body);
    const key = retry && retry.text === text ? retry.key : api.randomId();
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      const { body: lot } = await api.createLot(body, key);
      retry = null;
      clearRefusal(form);
      if (!another) {
        navigate(lotHref(lotRef(lot)));
        return;
      }
      form.elements.name.value = '';
      form.elements.lot_id.value = '';
      form.querySelector('.created').replaceChildren(notice(
        ['Created lot ', lotLink(lot),
          ` (${lot.name}) of product ${lot.product_id}.`]));
      form.elements.name.focus();
    } catch (err) {
      retry = err.status === 0 || err.status === 503 ? { text, key } : null;
      form.querySelector('.created').replaceChildren();
      showRefusal(form, err, CREATE_FIELD_OF);
    } finally {
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  });
  main.append(h('h1', {}, 'New lot'), form);
  form.elements.product_id.focus();
}
