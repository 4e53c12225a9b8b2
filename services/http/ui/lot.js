// lot.js — one lot (/ui/products/{product_id}/lots/{lot_id}[/tab], and
// /ui/lots/{lot_id}[/tab] for a lot id typed alone): the tabs View, Edit,
// Locations, History, Trace and Recall, kept live while open.
//
// A lot is (product_id, lot_id): once the lot is read, every call and
// every link of the page names its product, so a lot id that a second
// product takes up later cannot turn the open page ambiguous. A plain
// lot id that several products use answers AMBIGUOUS_LOT: the page then
// offers each product's lot.
import * as api from './api.js';
import {
  h, field, input, table, errorBox, notice, loading, toIso, toLocal, showTime,
  lotHref, lotRef, lotLink, moveHref, DATES, showRefusal, clearRefusal, checkbox, addDecimal, latest,
} from './dom.js';

export const TABS = ['edit', 'locations', 'history', 'trace', 'recall'];
const TAB_NAMES = [['view', 'View'], ['edit', 'Edit'], ['locations', 'Locations'],
  ['history', 'History'], ['trace', 'Trace'], ['recall', 'Recall']];
const POLL_MS = 1000;
const HISTORY_PAGE = 100;

// ---- live: the lot's history after the position shown ----

// Calls onChange(position) whenever an event of the lot lands after
// position; returns the stop function.
function watch(ref, position, onChange) {
  let last = position;
  let stopped = false;
  let timer = null;
  async function tick() {
    try {
      const { body } = await api.lotMoves(ref, { cursor: last, limit: 1000 });
      if (!stopped && body.events.length > 0) {
        last = body.events[body.events.length - 1].position;
        await onChange(last);
      }
    } catch (e) {
      // lotlined restarting or the token gone: the next tick tries again
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  timer = setTimeout(tick, POLL_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- View ----

function viewTab(box, lot) {
  const row = (label, value) => [h('dt', {}, label), h('dd', {}, value === null || value === '' ? '—' : value)];
  box.replaceChildren(h('dl', { class: 'facts' },
    row('Lot ID', lot.lot_id), row('Name', lot.name), row('Product', lot.product_id),
    row('Tracking', lot.tracking), row('On hand', lot.on_hand), row('Reference', lot.reference),
    row('Description', lot.description),
    DATES.map(([id, label]) => row(label, showTime(lot[id]))),
    row('Version', String(lot.version)), row('Created', showTime(lot.created_at)),
    row('Updated', showTime(lot.updated_at))));
}

// ---- Edit ----

const EDIT_FIELDS = [['name', 'Name'], ['product_id', 'Product'], ['reference', 'Reference'],
  ['description', 'Description']];
const EDIT_FIELD_OF = { DUPLICATE_LOT: 'name', PRODUCT_LOCKED: 'product_id',
  LOT_PRODUCT_MISMATCH: 'product_id', TRACKING_MISMATCH: 'product_id', INVALID_DATES: 'alert_at' };

function formValue(lot, id) {
  const dated = DATES.some(([d]) => d === id);
  return dated ? toLocal(lot[id]) : lot[id] || '';
}

// The changed fields ("" clears one), with the version they were made on.
function patchBody(form, original) {
  const body = {};
  for (const id of [...EDIT_FIELDS.map((f) => f[0]), ...DATES.map((d) => d[0])]) {
    const value = form.elements[id].value.trim();
    if (value === formValue(original, id)) continue;
    body[id] = DATES.some(([d]) => d === id) ? toIso(value) : value;
  }
  body.expected_version = original.version;
  return body;
}

function editTab(box, state, ref, onSaved) {
  const form = h('form', { class: 'lot-form', novalidate: true },
    h('div', { class: 'form-error' }),
    EDIT_FIELDS.map(([id, label]) => field(label, id === 'description'
      ? h('textarea', { id, name: id, rows: 3 }) : input(id))),
    DATES.map(([id, label]) => field(label, input(id, { type: 'datetime-local', step: '1' }))),
    h('p', { class: 'hint' }, 'Saving sends version ', h('strong', { class: 'version' }, String(state.lot.version)),
      ': if someone saved the lot since, you are told and nothing is overwritten.'),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Save'),
      h('a', { class: 'button secondary', href: lotHref(ref) }, 'Cancel')),
    h('div', { class: 'saved', 'aria-live': 'polite' }));
  let original = state.lot;
  const fill = (lot, keepTyped) => {
    for (const id of [...EDIT_FIELDS.map((f) => f[0]), ...DATES.map((d) => d[0])]) {
      const el = form.elements[id];
      if (!keepTyped || el.value.trim() === formValue(original, id)) el.value = formValue(lot, id);
    }
    original = lot;
    form.querySelector('.version').textContent = String(lot.version);
  };
  fill(original, false);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = form.querySelector('.saved');
    try {
      const { body: lot, position } = await api.updateLot(ref, patchBody(form, original), api.randomId());
      clearRefusal(form);
      fill(lot, false);
      out.replaceChildren(notice(`Saved: the lot is at version ${lot.version}.`));
      onSaved(lot, position);
    } catch (err) {
      out.replaceChildren();
      if (err.code !== 'VERSION_CONFLICT') {
        showRefusal(form, err, EDIT_FIELD_OF);
        return;
      }
      showRefusal(form, err, {});
      form.querySelector('.form-error').append(h('div', { class: 'conflict' },
        h('p', {}, `Someone saved this lot after you opened it at version ${original.version}. ` +
          'Nothing was changed; what you typed is still here. Load the latest version ' +
          '(fields you did not touch take its values), check, and save again.'),
        h('button', {
          type: 'button', onclick: async () => {
            try {
              const { body } = await api.getLot(ref);
              fill(body, true);
              clearRefusal(form);
              out.replaceChildren(notice(`Loaded version ${body.version}.`));
            } catch (e2) {
              out.replaceChildren(errorBox(e2));
            }
          },
        }, 'Load the latest version')));
    }
  });
  state.changed = (lot) => {
    if (lot.version !== original.version)
      form.querySelector('.saved').replaceChildren(notice(
        `This lot changed while you edit it: it is at version ${lot.version} now.`, 'warn'));
  };
  box.replaceChildren(form);
}

// ---- Locations ----

const STOCK_USAGES = ['INTERNAL', 'TRANSIT'];

function locationsTab(box, ref) {
  const results = h('div', { class: 'results' });
  const all = checkbox('all', 'Show virtual locations', false, () => load());
  const asOfTime = input('as_of_time', { type: 'datetime-local', step: '1' });
  const asOfPosition = input('as_of_position', { type: 'number', min: '1', inputmode: 'numeric' });
  // as_of is a log position or a time; the position wins when both are set
  const asOf = () => asOfPosition.value.trim() || toIso(asOfTime.value);
  const form = h('form', { class: 'filters' }, all,
    field('As of time', asOfTime, 'empty: now'),
    field('As of log position', asOfPosition, 'instead of a time'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  const load = latest(async (current, minPosition) => {
    try {
      const { body } = await api.lotLocations(ref, {
        all: form.elements.all.checked, as_of: asOf(), min_position: minPosition,
      });
      if (!current()) return;
      const when = body.as_of
        ? (body.as_of.position !== undefined ? `at log position ${body.as_of.position}` : `at ${body.as_of.time}`)
        : 'now';
      results.replaceChildren(
        h('p', { class: 'total' }, 'On hand ', when, ': ', h('strong', { class: 'on-hand' }, body.on_hand)),
        table('Where the lot is', ['Location', 'Usage', 'Quantity', 'On hand'],
          body.locations.map((l) => [l.location, l.usage, l.quantity,
            STOCK_USAGES.includes(l.usage) ? 'yes' : 'no']), [2]));
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  });
  box.replaceChildren(form, results);
  return load;
}

// ---- History ----

function describe(ev) {
  if (ev.type === 'StockMoved')
    return [`${ev.quantity} from ${ev.from.id} (${ev.from.usage}) to ${ev.to.id} (${ev.to.usage})`];
  const skip = ['position', 'type', 'event_id', 'occurred_at', 'recorded_at', 'reference'];
  const parts = Object.entries(ev).filter(([k, v]) => !skip.includes(k) && v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${v === '' ? '(cleared)' : v}`);
  return [parts.join(', ')];
}

function historyTab(box, ref) {
  const rows = [];
  const more = h('div', { class: 'pager' });
  async function load(cursor, minPosition) {
    try {
      const { body } = await api.lotMoves(ref, { cursor, limit: HISTORY_PAGE, min_position: minPosition });
      if (!cursor) rows.length = 0;
      rows.push(...body.events.map((ev) => [String(ev.position), ev.type, showTime(ev.recorded_at),
        describe(ev), ev.reference || '—']));
      box.replaceChildren(table('History, oldest first', ['Position', 'Event', 'Recorded', 'What', 'Reference'],
        rows, [0]), more);
      more.replaceChildren(body.next_cursor
        ? h('button', { type: 'button', onclick: () => load(body.next_cursor) }, 'Load more') : '');
    } catch (e) {
      box.replaceChildren(errorBox(e));
    }
  }
  return (minPosition) => load(null, minPosition);
}

// ---- Trace and Recall ----

function node(n, root) {
  const via = n.links.map((l) => `${l.reference}: ${l.consumed} consumed, ${l.produced} produced`).join('; ');
  return h('li', {},
    h('span', { class: 'node' },
      root ? h('strong', {}, n.lot_id) : lotLink(n),
      ` ${n.name} · ${n.product_id}`,
      via ? h('span', { class: 'via' }, ` (${via})`) : null,
      n.repeat ? h('em', {}, ' (shown above)') : null,
      n.truncated ? h('em', {}, ' (more beyond the limit)') : null),
    n.children.length ? h('ul', {}, n.children.map((c) => node(c, false))) : null);
}

function traceTab(box, ref) {
  return async (minPosition) => {
    try {
      const [down, up] = await Promise.all([
        api.lotTrace(ref, 'downstream', minPosition), api.lotTrace(ref, 'upstream', minPosition)]);
      const tree = (title, t, id) => h('section', { class: 'trace', 'aria-labelledby': id },
        h('h2', { id }, title, ` (${t.lot_count - 1} lot${t.lot_count === 2 ? '' : 's'})`),
        h('ul', { class: 'tree', 'data-direction': t.direction }, node(t.tree, true)),
        t.truncated ? notice('The trace stops at a limit: some links are not shown.', 'warn') : null);
      box.replaceChildren(tree('Upstream: what it was made from', up.body, 'up'),
        tree('Downstream: what was made from it', down.body, 'down'));
    } catch (e) {
      box.replaceChildren(errorBox(e));
    }
  };
}

function flatten(n, depth, out) {
  for (const c of n.children) {
    if (!c.repeat) out.push([c, depth]);
    flatten(c, depth + 1, out);
  }
  return out;
}

function recallTab(box, ref) {
  return async (minPosition) => {
    try {
      const { body: t } = await api.lotTrace(ref, 'downstream', minPosition);
      const made = flatten(t.tree, 1, []);
      const customers = new Map();
      for (const d of t.deliveries)
        customers.set(d.location, addDecimal(customers.get(d.location) || '0', d.quantity));
      box.replaceChildren(
        h('p', {}, `Recall of ${t.tree.lot_id}: ${made.length} lot${made.length === 1 ? '' : 's'} made from it, ` +
          `${t.deliveries.length} deliver${t.deliveries.length === 1 ? 'y' : 'ies'} to ${customers.size} ` +
          `customer location${customers.size === 1 ? '' : 's'}.`),
        t.truncated ? notice('The trace stops at a limit: the recall may be incomplete.', 'warn') : '',
        table('Lots made from it', ['Lot ID', 'Product', 'Name', 'Level'],
          made.map(([n, depth]) => [lotLink(n), n.product_id, n.name, String(depth)]), [3]),
        table('Deliveries to customers', ['Customer', 'Lot ID', 'Product', 'Quantity', 'Reference', 'Recorded'],
          t.deliveries.map((d) => [d.location, lotLink(d), d.product_id, d.quantity, d.reference || '—',
            showTime(d.recorded_at)]), [3]),
        table('Per customer', ['Customer', 'Quantity delivered'],
          [...customers].map(([c, q]) => [c, q]), [1]));
    } catch (e) {
      box.replaceChildren(errorBox(e));
    }
  };
}

// ---- the page ----

// A plain lot id that several products use: one link per product's lot,
// to the same tab, with what tells the lots apart.
async function ambiguous(main, ref, err, tab) {
  const products = (err.products || []).map((p) => (typeof p === 'string' ? p : p.product_id));
  const lots = await Promise.all(products.map((product_id) =>
    api.getLot({ product_id, lot_id: ref.lot_id }).then((r) => r.body, () => null)));
  main.replaceChildren(h('h1', {}, `Lot ${ref.lot_id}`),
    notice([h('strong', { class: 'code' }, err.code),
      ` ${products.length} products have a lot with id ${ref.lot_id}. Choose the product:`], 'warn'),
    h('ul', { class: 'products' }, products.map((product_id, i) => h('li', {},
      h('a', { href: lotHref({ product_id, lot_id: ref.lot_id }, tab) }, product_id),
      lots[i] ? ` · ${lots[i].name} · ${lots[i].tracking} · on hand ${lots[i].on_hand}` : null))));
}

function header(lot, ref, tab) {
  return [
    h('h1', {}, 'Lot ', h('span', { class: 'lot-id' }, lot.lot_id)),
    h('p', { class: 'sub' }, `${lot.name} · product ${lot.product_id} · ${lot.tracking} · on hand `,
      h('strong', { class: 'lot-on-hand' }, lot.on_hand), ` · version ${lot.version} · `,
      h('a', { href: moveHref(ref), class: 'move-link' }, 'Move stock')),
    h('nav', { class: 'tabs', 'aria-label': 'Lot' }, h('ul', {}, TAB_NAMES.map(([id, name]) =>
      h('li', {}, h('a', { href: lotHref(ref, id), 'aria-current': id === tab ? 'page' : null }, name))))),
  ];
}

// The tab's content in box; returns the function that reads it again
// (null for the tabs that show the lot itself).
function openTab(tab, box, state, ref, onSaved) {
  if (tab === 'view') viewTab(box, state.lot);
  else if (tab === 'edit') editTab(box, state, ref, onSaved);
  else if (tab === 'locations') return locationsTab(box, ref);
  else if (tab === 'history') return historyTab(box, ref);
  else if (tab === 'trace') return traceTab(box, ref);
  else if (tab === 'recall') return recallTab(box, ref);
  return null;
}

export async function lotPage(main, navigate, asked, tab) {
  main.append(loading());
  let lot;
  let position;
  try {
    ({ body: lot, position } = await api.getLot(asked));
  } catch (err) {
    if (err.code === 'AMBIGUOUS_LOT') await ambiguous(main, asked, err, tab);
    else main.replaceChildren(h('h1', {}, `Lot ${asked.lot_id}`), errorBox(err));
    return null;
  }
  const ref = lotRef(lot);
  const box = h('section', { class: 'tab', id: 'tab-content' });
  const live = h('p', { class: 'live', 'aria-live': 'polite' });
  const state = { lot, changed: null };
  const reload = openTab(tab, box, state, ref, (l, p) => { state.lot = l; position = p; });
  main.replaceChildren(...header(lot, ref, tab), box, live);
  if (reload) await reload();
  return watch(ref, position, async (changedAt) => {
    try {
      const { body } = await api.getLot(ref, changedAt);
      main.querySelector('.sub').replaceWith(header(body, ref, tab)[1]);
      if (tab === 'view') viewTab(box, body);
      else if (state.changed) state.changed(body);
      else if (reload) await reload(changedAt);
      live.textContent = `Updated: the lot changed at log position ${changedAt}.`;
    } catch (e) {
      live.textContent = `The lot changed at log position ${changedAt}, but reading it failed: ${e.message}`;
    }
  });
}
