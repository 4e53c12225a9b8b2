// api.js — every call the console makes to lotline's HTTP API, one
// function per call (docs/api.md). Nothing else in the console builds a
// /v1 URL, so a change of route is a change here.
//
// A lot is named by a reference {lot_id, product_id?}: without a product
// the plain /v1/lots/{lot_id} routes are used; with one, the
// product-scoped /v1/products/{product_id}/lots/{lot_id} routes.
//
// Every function resolves to {body, position} (position: the
// Lotline-Position header, or 0) or rejects with an ApiError carrying the
// API's {code, message} (and products, for AMBIGUOUS_LOT).

const TOKEN_KEY = 'lotline.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || 'HTTP_' + status;
    this.products = (body && body.products) || null;
  }
}

// A random id for Idempotency-Key and generated lot ids. getRandomValues
// works on plain http too (randomUUID needs a secure context).
export function randomId(bytes = 16) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const enc = encodeURIComponent;

function queryString(query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '' && v !== false)
      q.set(k, v === true ? '1' : String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

async function call(method, path, { query, body, key } = {}) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers['Idempotency-Key'] = key;
  let resp;
  try {
    resp = await fetch(path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, { code: 'NETWORK', message: 'lotlined did not answer: ' + e.message });
  }
  let json = null;
  try {
    json = await resp.json();
  } catch (e) {
    json = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return { body: json, position: Number(resp.headers.get('Lotline-Position') || 0) };
}

// The path of a lot's route: product-scoped when the product is known.
function lotPath(ref, tail = '') {
  const base = ref.product_id
    ? `/v1/products/${enc(ref.product_id)}/lots/${enc(ref.lot_id)}`
    : `/v1/lots/${enc(ref.lot_id)}`;
  return base + tail;
}

// GET /v1/lots: {product_id, name, q, limit, cursor, expiring_before,
// location, children, min_position}.
export function listLots(filter) {
  return call('GET', '/v1/lots', { query: filter });
}

export function getLot(ref, minPosition) {
  return call('GET', lotPath(ref), { query: { min_position: minPosition } });
}

export function createLot(fields, key) {
  return call('POST', '/v1/lots', { body: fields, key });
}

export function updateLot(ref, fields, key) {
  return call('PATCH', lotPath(ref), { body: fields, key });
}

// {all, as_of, min_position}
export function lotLocations(ref, options) {
  return call('GET', lotPath(ref, '/locations'), { query: options });
}

// {limit, cursor, min_position}: cursor is the last position seen.
export function lotMoves(ref, options) {
  return call('GET', lotPath(ref, '/moves'), { query: options });
}

// direction: 'downstream' or 'upstream'.
export function lotTrace(ref, direction, minPosition) {
  return call('GET', lotPath(ref, '/trace'), {
    query: { direction, min_position: minPosition },
  });
}

// {children, limit, cursor}
export function locationLots(location, options) {
  return call('GET', `/v1/locations/${enc(location)}/lots`, { query: options });
}

export function createMove(fields, key) {
  return call('POST', '/v1/moves', { body: fields, key });
}

// before: a next_before of an earlier page (null: the newest)
export function rejections(limit, before) {
  return call('GET', '/v1/rejections', { query: { limit, before } });
}
