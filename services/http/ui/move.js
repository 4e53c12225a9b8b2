// move.js — the move form (/ui/moves/new): a quantity of a lot from one
// location to another, with the rule's answer.
import * as api from './api.js';
import { h, field, input, select, notice, lotHref, USAGES, showRefusal, clearRefusal } from './dom.js';

const MOVE_FIELD_OF = {
  UNKNOWN_LOT: 'lot_id', LOT_PRODUCT_MISMATCH: 'product_id', INVALID_QUANTITY: 'quantity',
  SERIAL_QUANTITY: 'quantity', INSUFFICIENT_STOCK: 'quantity', SAME_LOCATION: 'to_id',
  SERIAL_NOT_AT_SOURCE: 'from_id', SERIAL_ALREADY_IN_STOCK: 'to_id', EXPIRED_LOT: 'lot_id',
};

const usages = USAGES.map((u) => [u, u]);

function moveBody(form) {
  const v = (id) => form.elements[id].value.trim();
  const body = {
    lot_id: v('lot_id'), quantity: v('quantity'),
    from: { id: v('from_id'), usage: v('from_usage') },
    to: { id: v('to_id'), usage: v('to_usage') },
  };
  if (v('product_id')) body.product_id = v('product_id');
  if (v('reference')) body.reference = v('reference');
  return body;
}

export async function movePage(main) {
  const form = h('form', { class: 'lot-form', novalidate: true },
    h('div', { class: 'form-error' }),
    field('Lot ID', input('lot_id', { required: true })),
    field('Product', input('product_id'), 'optional: the lot\'s product is used when empty'),
    field('Quantity', input('quantity', { inputmode: 'decimal', required: true }), 'a decimal, up to 6 decimals'),
    h('fieldset', {}, h('legend', {}, 'From'),
      field('From location', input('from_id', { required: true })),
      field('From usage', select('from_usage', usages, 'INTERNAL'))),
    h('fieldset', {}, h('legend', {}, 'To'),
      field('To location', input('to_id', { required: true })),
      field('To usage', select('to_usage', usages, 'INTERNAL'))),
    field('Reference', input('reference')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Move')),
    h('div', { class: 'answer', 'aria-live': 'polite' }));
  let retry = null;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = moveBody(form);
    const text = JSON.stringify(body);
    const key = retry && retry.text === text ? retry.key : api.randomId();
    const answer = form.querySelector('.answer');
    answer.replaceChildren();
    try {
      const { body: out } = await api.createMove(body, key);
      retry = null;
      clearRefusal(form);
      answer.replaceChildren(notice(['Accepted at log position ', String(out.position), ': lot ',
        h('a', { href: lotHref({ lot_id: out.lot.lot_id }, 'locations') }, out.lot.lot_id),
        ` has ${out.lot.on_hand} on hand.`]));
    } catch (err) {
      retry = err.status === 0 || err.status === 503 ? { text, key } : null;
      showRefusal(form, err, MOVE_FIELD_OF);
    }
  });
  main.append(h('h1', {}, 'Move stock'), form);
  form.elements.lot_id.focus();
}
