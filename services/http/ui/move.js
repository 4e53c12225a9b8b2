// move.js — the move form (/ui/moves/new[?product_id=P&lot_id=L], as a
// lot page links to it): a quantity of a lot from one location to
// another, with the rule's answer. The product is sent when it is known;
// without it the API looks the lot id up, and a lot id that several
// products use is refused with AMBIGUOUS_LOT, shown at Product with the
// products to choose from.
import * as api from './api.js';
import { h, field, input, select, notice, lotLink, USAGES, showRefusal, clearRefusal } from './dom.js';

const MOVE_FIELD_OF = {
  UNKNOWN_LOT: 'lot_id', LOT_PRODUCT_MISMATCH: 'product_id', INVALID_QUANTITY: 'quantity',
  SERIAL_QUANTITY: 'quantity', INSUFFICIENT_STOCK: 'quantity', SAME_LOCATION: 'to_id',
  SERIAL_NOT_AT_SOURCE: 'from_id', SERIAL_ALREADY_IN_STOCK: 'to_id', EXPIRED_LOT: 'lot_id',
  AMBIGUOUS_LOT: 'product_id',
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

// The refusal as shown: AMBIGUOUS_LOT names the products to choose from.
function refusal(err) {
  if (err.code !== 'AMBIGUOUS_LOT' || !err.products) return err;
  return { code: err.code, message: `${err.message}. Products with this lot id: ${err.products.join(', ')}.` };
}

export async function movePage(main) {
  const given = new URLSearchParams(location.search);
  const form = h('form', { class: 'lot-form', novalidate: true },
    h('div', { class: 'form-error' }),
    field('Lot ID', input('lot_id', { required: true, value: given.get('lot_id') })),
    field('Product', input('product_id', { value: given.get('product_id') }),
      'the lot\'s product; may be left empty while only one product has a lot with this id'),
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
        lotLink(out.lot, 'locations'), ` of product ${out.lot.product_id} has ${out.lot.on_hand} on hand.`]));
    } catch (err) {
      retry = err.status === 0 || err.status === 503 ? { text, key } : null;
      showRefusal(form, refusal(err), MOVE_FIELD_OF);
    }
  });
  main.append(h('h1', {}, 'Move stock'), form);
  form.elements[given.get('lot_id') ? 'quantity' : 'lot_id'].focus();
}
