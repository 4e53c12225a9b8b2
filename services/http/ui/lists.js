// lists.js — the lists that are not about one lot: stock by location
// (/ui/locations), the dead letters (/ui/rejections) and the FEFO list
// (/ui/expiring). Their lots are linked under their products.
import * as api from './api.js';
import {
  h, field, input, select, table, errorBox, loading, toIso, showTime, lotLink, lotRef, checkbox, addDecimal, latest,
} from './dom.js';

const PAGE_SIZE = 200;
const LOTS_MAX = 500; // the location tree reads at most this many lots

// ---- stock by location ----

// Every lot under root (all lots when root is empty), at most LOTS_MAX.
async function lotsUnder(root) {
  const out = [];
  let cursor = null;
  do {
    const { body } = root
      ? await api.locationLots(root, { children: true, limit: PAGE_SIZE, cursor })
      : await api.listLots({ limit: PAGE_SIZE, cursor });
    out.push(...body.lots);
    cursor = body.next_cursor;
  } while (cursor && out.length < LOTS_MAX);
  return { lots: out, complete: !cursor };
}

// The tree of locations: {name, path, lots: [{lot, quantity}], total,
// children: Map}, from each lot's stock locations.
function buildTree(rows, root) {
  const top = { name: root || 'All locations', path: root, lots: [], total: '0', children: new Map() };
  for (const { lot, loc } of rows) {
    if (root && loc.location !== root && !loc.location.startsWith(root + '/')) continue;
    const rest = root ? loc.location.slice(root.length).split('/').filter(Boolean) : loc.location.split('/');
    let n = top;
    top.total = addDecimal(top.total, loc.quantity);
    for (const part of rest) {
      const path = n.path ? n.path + '/' + part : part;
      if (!n.children.has(part)) n.children.set(part, { name: part, path, lots: [], total: '0', children: new Map() });
      n = n.children.get(part);
      n.total = addDecimal(n.total, loc.quantity);
    }
    n.lots.push({ lot, quantity: loc.quantity, usage: loc.usage });
  }
  return top;
}

function treeNode(n) {
  return h('li', {},
    h('details', { open: true },
      h('summary', {}, h('span', { class: 'loc' }, n.name), ' ', h('span', { class: 'qty' }, String(n.total))),
      n.lots.length ? h('ul', { class: 'lots' }, n.lots.map((l) => h('li', {}, lotLink(l.lot, 'locations'),
        ` ${l.lot.name} · ${l.lot.product_id} · ${l.quantity} (${l.usage})`))) : null,
      n.children.size ? h('ul', {}, [...n.children.values()].map(treeNode)) : null));
}

export async function locationsPage(main) {
  const results = h('div', { class: 'results' });
  const form = h('form', { class: 'filters' },
    field('Location', input('root', { placeholder: 'e.g. WH' }), 'and everything below it; empty: every location'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  const load = latest(async (current) => {
    const root = form.elements.root.value.trim().replace(/\/+$/, '');
    results.replaceChildren(loading());
    try {
      const { lots, complete } = await lotsUnder(root);
      const rows = [];
      for (const lot of lots) {
        const { body } = await api.lotLocations(lotRef(lot));
        for (const loc of body.locations) rows.push({ lot, loc });
      }
      if (!current()) return;
      const tree = buildTree(rows, root);
      results.replaceChildren(
        complete ? '' : h('p', { class: 'notice warn' }, `Only the first ${lots.length} lots are shown.`),
        h('ul', { class: 'tree locations' }, treeNode(tree)));
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  main.append(h('h1', {}, 'Stock by location'), form, results);
  await load();
}

// ---- rejections ----

export async function rejectionsPage(main) {
  const results = h('div', { class: 'results' });
  let all = [];
  const codeSelect = select('code', [['', 'Any code']], '');
  const form = h('form', { class: 'filters', role: 'search' },
    field('Code', codeSelect),
    field('Contains', input('text', { type: 'search' }), 'in the message or the event id'),
    field('Per page', select('limit', [['50', '50'], ['200', '200'], ['1000', '1000']], '200')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter')));
  // Page i starts before cursors[i] (null: the newest); the filters apply
  // to the page shown.
  const cursors = [null];
  let index = 0;
  function show() {
    const code = form.elements.code.value;
    const text = form.elements.text.value.trim().toLowerCase();
    const rows = all.filter((r) => (!code || r.code === code) &&
      (!text || (r.message + ' ' + r.event_id).toLowerCase().includes(text)));
    results.replaceChildren(table(`${rows.length} rejection${rows.length === 1 ? '' : 's'}, newest first`,
      ['Code', 'Message', 'Event ID', 'Rejected', 'Input'],
      rows.map((r) => [h('code', {}, r.code), r.message, r.event_id || '—', showTime(r.rejected_at),
        `${r.topic}[${r.partition}]@${r.offset}`])),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('button', { type: 'button', disabled: index === 0, onclick: () => load(index - 1) }, 'Newer'),
      h('span', {}, `Page ${index + 1}`),
      h('button', { type: 'button', disabled: cursors.length <= index + 1, onclick: () => load(index + 1) },
        'Older')));
  }
  const load = latest(async (current, page = 0) => {
    try {
      const { body } = await api.rejections(Number(form.elements.limit.value), cursors[page]);
      if (!current()) return;
      index = page;
      cursors.length = page + 1;
      if (body.next_before) cursors.push(body.next_before);
      all = body.rejections;
      const codes = [...new Set(all.map((r) => r.code))].sort();
      const keep = codeSelect.value;
      codeSelect.replaceChildren(h('option', { value: '' }, 'Any code'),
        ...codes.map((c) => h('option', { value: c, selected: c === keep }, c)));
      show();
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  form.elements.code.addEventListener('change', show);
  main.append(h('h1', {}, 'Rejections'),
    h('p', {}, 'Events the rules refused (the dead letters of lots.rejected), with their codes.'), form, results);
  await load();
}

// ---- FEFO ----

export async function expiringPage(main) {
  const results = h('div', { class: 'results' });
  const form = h('form', { class: 'filters' },
    field('Expiring before', input('before', { type: 'datetime-local', step: '1' }), 'empty: every date'),
    field('Location', input('location')),
    checkbox('children', 'and the locations below it', true),
    field('Product', input('product_id')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  const cursors = [null];
  const load = latest(async (current, index) => {
    const v = (id) => form.elements[id].value.trim();
    const location = v('location');
    results.replaceChildren(loading());
    try {
      const { body } = await api.listLots({
        expiring_before: v('before') ? toIso(v('before')) : '9999-12-31T00:00:00Z',
        location, children: location ? form.elements.children.checked : false,
        product_id: v('product_id'), limit: 50, cursor: cursors[index],
      });
      if (!current()) return;
      cursors.length = index + 1;
      if (body.next_cursor) cursors.push(body.next_cursor);
      results.replaceChildren(
        table('On-hand lots, first to expire first', ['Lot ID', 'Name', 'Product', 'Removal', 'Expiration',
          location ? 'On hand here' : 'On hand'],
        body.lots.map((l) => [lotLink(l), l.name, l.product_id, showTime(l.removal_at), showTime(l.expiration_at),
          location ? l.location_on_hand : l.on_hand]), [5]),
        h('nav', { class: 'pager', 'aria-label': 'Pages' },
          h('button', { type: 'button', disabled: index === 0, onclick: () => load(index - 1) }, 'Previous page'),
          h('span', {}, `Page ${index + 1}`),
          h('button', { type: 'button', disabled: !body.next_cursor, onclick: () => load(index + 1) }, 'Next page')));
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    cursors.length = 1;
    load(0);
  });
  main.append(h('h1', {}, 'Expiring first'), form, results);
  await load(0);
}
