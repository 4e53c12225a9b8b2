// test_console.mjs — the web console in a real browser: headless Chromium
// driven by puppeteer-core against a real `lotlined all` with bearer
// tokens on (tests/ui/run.sh starts it from ctest).
//
// Each step names the HTTP error statuses it provokes on purpose (a
// refused create is a 409, a refused move a 422): Chromium logs such an
// answer as a console error, and those alone are let through. Any other
// console error, any uncaught exception, any failed request fails the
// step. Screenshots of the main pages go to $LOTLINE_UI_ARTIFACTS.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(path.join(process.env.LOTLINE_UI_DEPS, 'package.json'));
const puppeteer = require('puppeteer-core');

const BIN = process.env.LOTLINE_BIN;
const ARTIFACTS = process.env.LOTLINE_UI_ARTIFACTS;
const READ_TOKEN = 'ui-read-token';
const WRITE_TOKEN = 'ui-write-token';
const WAIT_MS = 10000;

// ---- lotlined ----

// lotlined refuses a LOTLINE_* variable that is not a setting: the
// test's own are left out.
function daemonEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOTLINE_')));
}

async function startLotlined() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lotline-ui-'));
  const data = path.join(tmp, 'data');
  const log = fs.openSync(path.join(tmp, 'lotlined.log'), 'w');
  const proc = spawn(path.join(BIN, 'lotlined'), ['all', '--data', data, '--http', '127.0.0.1:0'], {
    stdio: ['ignore', log, log],
    env: { ...daemonEnv(), LOTLINE_HTTP_TOKEN_READ: READ_TOKEN, LOTLINE_HTTP_TOKEN_WRITE: WRITE_TOKEN },
  });
  const addrFile = path.join(data, 'http.addr');
  const deadline = Date.now() + 30000;
  for (;;) {
    if (fs.existsSync(addrFile) && fs.readFileSync(addrFile, 'utf8').trim()) break;
    if (Date.now() > deadline || proc.exitCode !== null)
      throw new Error('lotlined did not start:\n' + fs.readFileSync(path.join(tmp, 'lotlined.log'), 'utf8'));
    await sleep(50);
  }
  const base = 'http://' + fs.readFileSync(addrFile, 'utf8').trim();
  // Ready once the command consumer holds its partitions (a first join
  // takes about 3 s, more on a busy machine): a write before that waits
  // for it and can run out of its 5 s.
  for (;;) {
    const ready = await fetch(base + '/readyz').then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline || proc.exitCode !== null)
      throw new Error('lotlined did not get ready:\n' + fs.readFileSync(path.join(tmp, 'lotlined.log'), 'utf8'));
    await sleep(50);
  }
  return { proc, tmp, base };
}

function stopLotlined(srv) {
  return new Promise((resolve) => {
    if (srv.proc.exitCode !== null) return resolve();
    const kill = setTimeout(() => srv.proc.kill('SIGKILL'), 15000);
    srv.proc.on('exit', () => {
      clearTimeout(kill);
      fs.rmSync(srv.tmp, { recursive: true, force: true });
      resolve();
    });
    srv.proc.kill('SIGTERM');
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;

// The API directly, to seed data and to hold the console's answers to.
async function apiCall(method, p, body) {
  const resp = await fetch(srv.base + p, {
    method,
    headers: { Authorization: 'Bearer ' + WRITE_TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await resp.json();
  return { status: resp.status, json };
}

async function must(method, p, body) {
  const r = await apiCall(method, p, body);
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

const loc = (id, usage) => ({ id, usage });
const move = (lot_id, quantity, from, to, reference) =>
  must('POST', '/v1/moves', { lot_id, quantity, from, to, reference });
const moveOf = (product_id, lot_id, quantity, from, to, reference) =>
  must('POST', '/v1/moves', { product_id, lot_id, quantity, from, to, reference });

async function seed() {
  await must('POST', '/v1/lots', { lot_id: 'LOC-1', product_id: 'P-LOC', name: 'L1',
    expiration_at: '2027-03-01T00:00:00Z' });
  await move('LOC-1', '10', loc('Vendors/Acme', 'SUPPLIER'), loc('WH/Stock/A', 'INTERNAL'), 'PO-1');
  await move('LOC-1', '3', loc('WH/Stock/A', 'INTERNAL'), loc('WH/Stock/B', 'INTERNAL'), 'INT-1');
  await move('LOC-1', '1.5', loc('WH/Stock/A', 'INTERNAL'), loc('WH/Transit', 'TRANSIT'), 'INT-2');
  await move('LOC-1', '2', loc('WH/Stock/A', 'INTERNAL'), loc('Customers/Zed', 'CUSTOMER'), 'SO-9');
  for (let i = 1; i <= 8; i++) // enough lots for a second page of 10
    await must('POST', '/v1/lots', { lot_id: `PAGE-0${i}`, product_id: 'P-PAGE', name: `PG${i}` });
  // flour -> dough -> bread, through production under MO-1 and MO-2
  for (const [id, product, name] of [['FLOUR-1', 'FLOUR', 'F1'], ['DOUGH-1', 'DOUGH', 'D1'],
    ['BREAD-1', 'BREAD', 'B1']])
    await must('POST', '/v1/lots', { lot_id: id, product_id: product, name });
  const prod = loc('Production', 'PRODUCTION');
  const stock = loc('WH/Stock', 'INTERNAL');
  await move('FLOUR-1', '100', loc('Vendors/Mill', 'SUPPLIER'), stock, 'PO-2');
  await move('FLOUR-1', '60', stock, prod, 'MO-1');
  await move('DOUGH-1', '80', prod, stock, 'MO-1');
  await move('DOUGH-1', '80', stock, prod, 'MO-2');
  await move('BREAD-1', '40', prod, stock, 'MO-2');
  await move('BREAD-1', '30', stock, loc('Customers/ACME', 'CUSTOMER'), 'SO-1');
  await move('BREAD-1', '5', stock, loc('Customers/Bob', 'CUSTOMER'), 'SO-2');
}

// Two products with a lot SHARED-1 (docs/api.md: a lot is product and lot
// id), and GLUE's made from PAINT's: a lot L made from another product's
// lot L. Seeded after the lots list is checked, which counts lots.
const SHARED = 'SHARED-1';
async function seedShared() {
  await must('POST', '/v1/lots', { lot_id: SHARED, product_id: 'PAINT', name: 'PT1',
    expiration_at: '2028-01-01T00:00:00Z' });
  await must('POST', '/v1/lots', { lot_id: SHARED, product_id: 'GLUE', name: 'GL1',
    expiration_at: '2028-06-01T00:00:00Z' });
  await moveOf('PAINT', SHARED, '10', loc('Vendors/Acme', 'SUPPLIER'), loc('WH/Paint', 'INTERNAL'), 'PO-P');
  await moveOf('PAINT', SHARED, '4', loc('WH/Paint', 'INTERNAL'), loc('Production', 'PRODUCTION'), 'MO-9');
  await moveOf('GLUE', SHARED, '6', loc('Production', 'PRODUCTION'), loc('WH/Glue', 'INTERNAL'), 'MO-9');
  await moveOf('GLUE', SHARED, '1', loc('WH/Glue', 'INTERNAL'), loc('Customers/Q', 'CUSTOMER'), 'SO-Q');
}

const lotPath = (product, tail = '') => `/ui/products/${product}/lots/${SHARED}${tail}`;
const apiLotPath = (product, tail = '') => `/v1/products/${product}/lots/${SHARED}${tail}`;

// ---- the browser ----

let browser;
let page;
let problems = []; // console errors, exceptions, failed requests of the current step
const visited = new Set();

function watchPage(p) {
  p.on('console', (m) => {
    if (m.type() === 'error') problems.push({ kind: 'console', text: m.text() });
  });
  p.on('pageerror', (e) => problems.push({ kind: 'exception', text: String(e) }));
  p.on('requestfailed', (r) => {
    // a navigation away aborts the page's pending polls: not an error
    if (r.failure() && r.failure().errorText === 'net::ERR_ABORTED') return;
    problems.push({ kind: 'request', text: `${r.url()} ${r.failure() && r.failure().errorText}` });
  });
  p.on('framenavigated', (f) => {
    if (f === p.mainFrame()) visited.add(new URL(f.url()).pathname);
  });
}

const results = [];

async function step(name, allowedStatuses, fn) {
  problems = [];
  const t0 = Date.now();
  try {
    await fn();
    await sleep(100); // late console messages of the step
    const bad = problems.filter((pr) => {
      const m = pr.kind === 'console' && pr.text.match(/status of (\d{3})/);
      return !(m && allowedStatuses.includes(Number(m[1])));
    });
    assert.deepEqual(bad, [], 'browser console errors');
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
    await shot('FAILED-' + name.replace(/\W+/g, '-')).catch(() => {});
  }
}

async function shot(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
}

async function open(p) {
  await page.goto(srv.base + p, { waitUntil: 'load' });
  await page.waitForSelector('main h1');
}

// Click a console link or button by its text and wait for the result. The
// element may come a moment later (a page the console is still drawing after
// a link was followed): wait for it, up to WAIT_MS.
async function clickText(selector, text) {
  await page
    .waitForFunction((s, t) => [...document.querySelectorAll(s)].some((e) => e.textContent.trim() === t),
      { timeout: WAIT_MS }, selector, text)
    .catch(() => {});
  const handles = await page.$$(selector);
  for (const el of handles)
    if ((await el.evaluate((e) => e.textContent.trim())) === text) return el.click();
  throw new Error(`no ${selector} "${text}"`);
}

async function waitText(selector, text) {
  await page.waitForFunction((s, t) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(t)),
    { timeout: WAIT_MS }, selector, text);
}

// Empty the results, so that a wait cannot see the previous answer.
async function clearResults() {
  await page.$eval('.results', (e) => e.replaceChildren());
}

// The results table's caption says exactly this.
async function waitCaption(want) {
  await page.waitForFunction((t) => document.querySelector('main caption')?.textContent === t,
    { timeout: WAIT_MS }, want);
}

async function typeInto(id, value) {
  await page.$eval('#' + id, (e) => { e.value = ''; });
  await page.type('#' + id, value);
}

const value = (id) => page.$eval('#' + id, (e) => e.value);
const text = (selector) => page.$eval(selector, (e) => e.textContent);

// Every form control of the page has a label.
async function assertLabelled() {
  const unlabelled = await page.$$eval('input, select, textarea',
    (els) => els.filter((e) => e.type !== 'hidden' && e.labels.length === 0).map((e) => e.id || e.outerHTML));
  assert.deepEqual(unlabelled, [], 'controls without a <label>');
}

// Rows of the tab's table, as arrays of cell texts.
async function tableRows(scope) {
  return page.$$eval(scope + ' tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
}

// The links that selector finds, as [text, href] pairs.
async function links(selector) {
  return page.$$eval(selector, (as) => as.map((a) => [a.textContent, a.getAttribute('href')]));
}

// The writes (method, path, body) the page sends to the API until stop().
function recordWrites() {
  const writes = [];
  const seen = (r) => {
    if (r.method() !== 'GET' && new URL(r.url()).pathname.startsWith('/v1/'))
      writes.push({ method: r.method(), path: new URL(r.url()).pathname, body: JSON.parse(r.postData() || 'null') });
  };
  page.on('request', seen);
  return { writes, stop: () => page.off('request', seen) };
}

async function waitPath(want) {
  await page.waitForFunction((p) => location.pathname === p, { timeout: WAIT_MS }, want);
}

// The lot page's facts (View tab) as {label: text}.
async function facts() {
  await page.waitForSelector('dl.facts');
  return page.$$eval('dl.facts dt', (dts) => Object.fromEntries(dts.map((dt) =>
    [dt.textContent, dt.nextElementSibling.textContent])));
}

// ---- the steps ----

async function main() {
  srv = await startLotlined();
  await seed();
  browser = await puppeteer.launch({
    executablePath: process.env.LOTLINE_CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  watchPage(page);

  await step('the pages need no token, the API calls do: the token field', [401], async () => {
    const resp = await page.goto(srv.base + '/ui/lots', { waitUntil: 'load' });
    assert.equal(resp.status(), 200);
    await page.waitForSelector('#token-form:not([hidden])');
    await waitText('.error .code', 'UNAUTHORIZED');
    await page.type('#token', WRITE_TOKEN);
    await page.keyboard.press('Enter');
    await waitText('main caption', 'lots');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('lotline.token')), WRITE_TOKEN);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await assertLabelled();
  });

  await step('lots list: search, product filter, on hand, tracking, paging', [], async () => {
    await typeInto('q', 'OUR');
    await clearResults();
    await page.keyboard.press('Enter');
    await waitCaption('1 lot');
    assert.deepEqual((await tableRows('.results')).map((r) => r[0]), ['FLOUR-1']);
    await typeInto('q', '');
    await typeInto('product_id', 'BREAD');
    await clearResults();
    await page.click('.filters button[type=submit]');
    await waitCaption('1 lot');
    assert.deepEqual((await tableRows('.results')).map((r) => r[0]), ['BREAD-1']);
    await typeInto('product_id', '');
    await page.select('#on_hand', 'yes');
    await clearResults();
    await page.click('.filters button[type=submit]');
    // DOUGH-1 went into production whole: none on hand
    await waitCaption('3 lots');
    assert.deepEqual((await tableRows('.results')).map((r) => r[0]), ['BREAD-1', 'FLOUR-1', 'LOC-1']);
    await page.select('#on_hand', 'no');
    await clearResults();
    await page.click('.filters button[type=submit]');
    await waitCaption('9 lots');
    assert.deepEqual((await tableRows('.results')).map((r) => r[0]).slice(0, 2), ['DOUGH-1', 'PAGE-01']);
    assert.ok((await tableRows('.results')).every((r) => r[4] === '0'));
    await page.select('#on_hand', '');
    await page.select('#tracking', 'SERIAL');
    await clearResults();
    await page.click('.filters button[type=submit]');
    await waitCaption('0 lots');
    // paging through the API's cursor: 12 lots, 10 a page
    await page.select('#tracking', '');
    await page.select('#limit', '10');
    await clearResults();
    await page.click('.filters button[type=submit]');
    await waitCaption('10 lots');
    const first = (await tableRows('.results')).map((r) => r[0]);
    await clickText('.pager button', 'Next page');
    await waitCaption('2 lots');
    const second = (await tableRows('.results')).map((r) => r[0]);
    const all = (await apiCall('GET', '/v1/lots?limit=1000')).json.lots.map((l) => l.lot_id);
    assert.deepEqual([...first, ...second], all);
    await clickText('.pager button', 'Previous page');
    await waitCaption('10 lots');
    assert.deepEqual((await tableRows('.results')).map((r) => r[0]), first);
    await shot('lots');
  });

  await step('create through the form: Create & Create Another, then Create', [], async () => {
    await open('/ui/lots/new');
    await assertLabelled();
    for (const label of ['Product', 'Name', 'Tracking', 'Lot ID', 'Reference', 'Description',
      'Expiration date', 'Use-by date', 'Removal date', 'Alert date'])
      assert.ok(await page.$$eval('label', (ls, l) => ls.some((x) => x.textContent === l), label), label);
    await page.type('#product_id', 'P-UI');
    await page.type('#name', 'N1');
    await page.type('#lot_id', 'UI-1');
    await page.type('#reference', 'PO-UI');
    await clickText('button', 'Create & Create Another');
    await waitText('.created', 'UI-1');
    assert.equal(await value('name'), '');
    assert.equal(await value('lot_id'), '');
    assert.equal(await value('product_id'), 'P-UI');
    assert.equal((await apiCall('GET', '/v1/lots/UI-1')).json.reference, 'PO-UI');
    // now by keyboard alone: Enter in a field submits with Create
    await page.focus('#name');
    await page.keyboard.type('N2');
    await page.keyboard.press('Tab'); // Tracking
    await page.keyboard.press('Tab'); // Lot ID
    await page.keyboard.type('UI-2');
    await page.keyboard.press('Enter');
    // the new lot opens under its product
    await page.waitForFunction(() => location.pathname === '/ui/products/P-UI/lots/UI-2', { timeout: WAIT_MS });
    await waitText('main h1', 'UI-2');
    assert.equal((await apiCall('GET', '/v1/lots/UI-2')).json.name, 'N2');
    await shot('lot-view');
  });

  await step('a generated Lot ID when it is left empty', [], async () => {
    await open('/ui/lots/new');
    await page.type('#product_id', 'P-UI');
    await page.type('#name', 'N-GEN');
    await clickText('button', 'Create & Create Another');
    await waitText('.created', 'P-UI-');
    const id = await text('.created a');
    assert.equal((await apiCall('GET', '/v1/lots/' + encodeURIComponent(id))).json.name, 'N-GEN');
  });

  await step('a refused create shows the code next to its field and keeps the input', [409], async () => {
    await open('/ui/lots/new');
    await page.type('#product_id', 'P-UI');
    await page.type('#name', 'N1'); // N1 exists in P-UI
    await page.type('#lot_id', 'UI-3');
    await page.type('#description', 'typed text');
    await clickText('button', 'Create');
    await waitText('#name-error', 'DUPLICATE_LOT');
    assert.equal(await page.$eval('#name', (e) => e.getAttribute('aria-invalid')), 'true');
    assert.equal(await value('description'), 'typed text');
    assert.equal(await value('lot_id'), 'UI-3');
    assert.equal(await page.evaluate(() => location.pathname), '/ui/lots/new');
    assert.equal((await apiCall('GET', '/v1/lots/UI-3')).status, 404);
    await shot('create-refused');
    // the same lot id again: LOT_ID_TAKEN lands on Lot ID
    await typeInto('name', 'N9');
    await typeInto('lot_id', 'UI-1');
    await clickText('button', 'Create');
    await waitText('#lot_id-error', 'LOT_ID_TAKEN');
  });

  await step('Cancel leaves the form for the list', [], async () => {
    await open('/ui/lots/new');
    await page.type('#name', 'never');
    await clickText('a', 'Cancel');
    await page.waitForFunction(() => location.pathname === '/ui/lots', { timeout: WAIT_MS });
    await waitText('main h1', 'Lots');
    assert.equal((await apiCall('GET', '/v1/lots?name=never')).json.lots.length, 0);
  });

  await step('edit: Save sends expected_version; a conflict is explained', [409], async () => {
    await open('/ui/lots/UI-1/edit');
    await assertLabelled();
    assert.equal(await value('reference'), 'PO-UI');
    await typeInto('reference', 'PO-MINE');
    // someone else saves first
    await must('PATCH', '/v1/lots/UI-1', { description: 'theirs', expected_version: 1 });
    await clickText('button', 'Save');
    await waitText('.form-error', 'VERSION_CONFLICT');
    await waitText('.conflict', 'Someone saved this lot');
    assert.equal(await value('reference'), 'PO-MINE');
    await shot('edit-conflict');
    await clickText('button', 'Load the latest version');
    await page.waitForFunction(() => document.querySelector('#description').value === 'theirs',
      { timeout: WAIT_MS });
    assert.equal(await value('reference'), 'PO-MINE'); // what was typed stays
    await clickText('button', 'Save');
    await waitText('.saved', 'version 3');
    const lot = (await apiCall('GET', '/v1/lots/UI-1')).json;
    assert.equal(lot.reference, 'PO-MINE');
    assert.equal(lot.description, 'theirs');
  });

  await step('moves: an accepted move, and a refused one shows its message', [422], async () => {
    await open('/ui/moves/new');
    await assertLabelled();
    await page.type('#lot_id', 'UI-1');
    await page.type('#quantity', '4');
    await page.type('#from_id', 'Vendors/Acme');
    await page.select('#from_usage', 'SUPPLIER');
    await page.type('#to_id', 'WH/Stock/A');
    await page.type('#reference', 'PO-UI');
    await clickText('button', 'Move');
    await waitText('.answer', 'has 4 on hand');
    await typeInto('quantity', '5');
    await typeInto('from_id', 'WH/Stock/A');
    await page.select('#from_usage', 'INTERNAL');
    await typeInto('to_id', 'Customers/X');
    await page.select('#to_usage', 'CUSTOMER');
    await clickText('button', 'Move');
    await waitText('#quantity-error', 'INSUFFICIENT_STOCK');
    const said = await text('#quantity-error');
    assert.match(said, /Not enough stock .* 4 available, 5 requested/);
    assert.equal(await value('to_id'), 'Customers/X');
    await shot('move-refused');
  });

  await step('Locations tab equals GET /v1/lots/{id}/locations (several locations)', [], async () => {
    await open('/ui/lots/LOC-1/locations');
    await assertLabelled();
    await page.waitForSelector('#tab-content tbody tr');
    const api = (await apiCall('GET', '/v1/lots/LOC-1/locations')).json;
    assert.ok(api.locations.length >= 3);
    const want = api.locations.map((l) => [l.location, l.usage, l.quantity,
      ['INTERNAL', 'TRANSIT'].includes(l.usage) ? 'yes' : 'no']);
    assert.deepEqual(await tableRows('#tab-content'), want);
    assert.equal(await text('#tab-content .on-hand'), api.on_hand);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'locations.png') });
    // show virtual locations
    await page.click('#all');
    await waitText('#tab-content tbody', 'Vendors/Acme');
    const all = (await apiCall('GET', '/v1/lots/LOC-1/locations?all=1')).json;
    assert.deepEqual((await tableRows('#tab-content')).map((r) => r.slice(0, 3)),
      all.locations.map((l) => [l.location, l.usage, l.quantity]));
    // as of position 3: after the receipt and the first internal move
    await page.click('#all');
    await page.type('#as_of_position', '3');
    await page.keyboard.press('Enter');
    await waitText('#tab-content .total', 'at log position 3');
    const then = (await apiCall('GET', '/v1/lots/LOC-1/locations?as_of=3')).json;
    assert.deepEqual((await tableRows('#tab-content')).map((r) => r.slice(0, 3)),
      then.locations.map((l) => [l.location, l.usage, l.quantity]));
    // as of a time: the picker's local time goes out in UTC
    await typeInto('as_of_position', '');
    await page.$eval('#as_of_time', (e) => { e.value = '2099-01-01T00:00:00'; });
    await clickText('#tab-content button', 'Show');
    await waitText('#tab-content .total', 'at 2099-');
    assert.equal(await text('#tab-content .on-hand'), api.on_hand);
  });

  await step('live: an open lot page follows its lot', [], async () => {
    await open('/ui/lots/LOC-1/locations');
    await page.waitForSelector('#tab-content tbody tr');
    await move('LOC-1', '1', loc('WH/Stock/A', 'INTERNAL'), loc('WH/Stock/C', 'INTERNAL'), 'INT-3');
    await waitText('#tab-content tbody', 'WH/Stock/C');
    await waitText('.live', 'changed at log position');
    await open('/ui/lots/LOC-1');
    await must('PATCH', '/v1/lots/LOC-1', { reference: 'LIVE-REF' });
    await waitText('dl.facts', 'LIVE-REF');
  });

  await step('History tab lists every event of the lot', [], async () => {
    await open('/ui/lots/LOC-1/history');
    await page.waitForSelector('#tab-content tbody tr');
    const api = (await apiCall('GET', '/v1/lots/LOC-1/moves?limit=100')).json;
    assert.deepEqual((await tableRows('#tab-content')).map((r) => [r[0], r[1]]),
      api.events.map((e) => [String(e.position), e.type]));
  });

  await step('Trace tab: flour -> dough -> bread, up and down', [], async () => {
    await open('/ui/lots/FLOUR-1/trace');
    await page.waitForSelector('ul.tree[data-direction=downstream]');
    const chain = await page.$eval('ul.tree[data-direction=downstream]', (ul) => {
      const ids = [];
      let li = ul.querySelector(':scope > li');
      while (li) {
        ids.push(li.querySelector(':scope > .node > a, :scope > .node > strong').textContent);
        li = li.querySelector(':scope > ul > li');
      }
      return ids;
    });
    assert.deepEqual(chain, ['FLOUR-1', 'DOUGH-1', 'BREAD-1']);
    assert.equal(await page.$$eval('ul.tree[data-direction=upstream] li', (l) => l.length), 1);
    await waitText('ul.tree[data-direction=downstream]', 'MO-1: 60 consumed, 80 produced');
    await shot('trace');
    // follow the link to bread, and look up
    await clickText('ul.tree a', 'BREAD-1');
    await page.waitForFunction(() => location.pathname === '/ui/products/BREAD/lots/BREAD-1', { timeout: WAIT_MS });
    await clickText('nav.tabs a', 'Trace');
    await page.waitForSelector('ul.tree[data-direction=upstream]');
    const up = await page.$$eval('ul.tree[data-direction=upstream] a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(up, ['DOUGH-1', 'FLOUR-1']);
  });

  await step('Recall tab: the lots made from it and every customer delivery', [], async () => {
    await open('/ui/lots/FLOUR-1/recall');
    await page.waitForSelector('#tab-content table');
    const api = (await apiCall('GET', '/v1/lots/FLOUR-1/trace')).json;
    const tables = await page.$$eval('#tab-content table', (ts) => ts.map((t) => [...t.tBodies[0].rows]
      .map((r) => [...r.cells].map((c) => c.textContent.trim()))));
    assert.deepEqual(tables[0].map((r) => [r[0], r[3]]), [['DOUGH-1', '1'], ['BREAD-1', '2']]);
    assert.deepEqual(tables[1].map((r) => [r[0], r[1], r[3], r[4]]),
      api.deliveries.map((d) => [d.location, d.lot_id, d.quantity, d.reference]));
    assert.deepEqual(tables[2], [['Customers/ACME', '30'], ['Customers/Bob', '5']]);
    await shot('recall');
  });

  await step('stock by location, rejections, expiring', [], async () => {
    await open('/ui/locations');
    await assertLabelled();
    await page.waitForSelector('ul.locations');
    await waitText('ul.locations > li > details > summary', 'All locations');
    await typeInto('root', 'WH');
    await clearResults();
    await page.keyboard.press('Enter');
    await waitText('ul.locations', 'Transit');
    const top = await page.$eval('ul.locations > li > details > summary', (s) => s.textContent);
    assert.match(top, /^WH /);
    await waitText('ul.locations', 'Stock');
    await shot('locations-tree');
    await open('/ui/rejections');
    await assertLabelled();
    await page.waitForSelector('.results tbody tr');
    for (const code of ['DUPLICATE_LOT', 'LOT_ID_TAKEN', 'VERSION_CONFLICT', 'INSUFFICIENT_STOCK'])
      await waitText('.results tbody', code);
    await page.select('#code', 'INSUFFICIENT_STOCK');
    await page.waitForFunction(() => [...document.querySelectorAll('.results tbody tr td:first-child')]
      .every((td) => td.textContent === 'INSUFFICIENT_STOCK'), { timeout: WAIT_MS });
    await shot('rejections');
    await open('/ui/expiring');
    await assertLabelled();
    await page.waitForSelector('.results tbody tr');
    const first = (await tableRows('.results'))[0][0];
    assert.equal(first, 'LOC-1'); // the one lot with an expiration date comes first
    await shot('expiring');
  });

  await step('rejections page by page, older and newer', [], async () => {
    // More rejections than a page of 50: moves of more than LOC-1 has.
    const have = (await apiCall('GET', '/v1/rejections?limit=1000')).json.rejections.length;
    for (let i = have; i < 57; i++) {
      const r = await apiCall('POST', '/v1/moves', { lot_id: 'LOC-1', quantity: '999',
        from: loc('WH/Stock/A', 'INTERNAL'), to: loc('WH/Stock/B', 'INTERNAL'), reference: `RJ-${i}` });
      assert.equal(r.json.code, 'INSUFFICIENT_STOCK', JSON.stringify(r.json));
    }
    const all = (await apiCall('GET', '/v1/rejections?limit=1000')).json.rejections
      .map((r) => `${r.topic}[${r.partition}]@${r.offset}`);
    assert.ok(all.length > 50 && all.length <= 100, `${all.length} rejections`);
    await open('/ui/rejections');
    await page.select('#limit', '50');
    await clearResults();
    await page.click('.filters button[type=submit]');
    await waitCaption('50 rejections, newest first');
    const first = (await tableRows('.results')).map((r) => r[4]);
    await clickText('.pager button', 'Older');
    const rest = all.length - 50;
    await waitCaption(`${rest} rejection${rest === 1 ? '' : 's'}, newest first`);
    const second = (await tableRows('.results')).map((r) => r[4]);
    assert.deepEqual([...first, ...second], all);
    assert.ok(await page.$eval('.pager', (n) => [...n.querySelectorAll('button')]
      .find((b) => b.textContent === 'Older').disabled), 'Older on the last page');
    await clickText('.pager button', 'Newer');
    await waitCaption('50 rejections, newest first');
    assert.deepEqual((await tableRows('.results')).map((r) => r[4]), first);
    await shot('rejections-pages');
  });

  await step('a lot id two products use: the plain link offers each product\'s lot', [409], async () => {
    await seedShared();
    const plain = await apiCall('GET', `/v1/lots/${SHARED}`);
    assert.equal(plain.status, 409);
    assert.equal(plain.json.code, 'AMBIGUOUS_LOT');
    assert.deepEqual(plain.json.products, ['GLUE', 'PAINT']);
    await open(`/ui/lots/${SHARED}/locations`);
    await waitText('.notice .code', 'AMBIGUOUS_LOT');
    await waitText('ul.products', 'PT1'); // each choice says which lot it is
    await waitText('ul.products', 'GL1');
    assert.deepEqual(await links('ul.products a'),
      plain.json.products.map((p) => [p, lotPath(p, '/locations')]));
    await shot('ambiguous');
    await clickText('ul.products a', 'PAINT');
    await waitPath(lotPath('PAINT', '/locations'));
    await waitText('#tab-content tbody', 'WH/Paint');
  });

  await step('each product\'s lot page shows its own lot, as the API does', [], async () => {
    for (const product of ['PAINT', 'GLUE']) {
      const lot = await must('GET', apiLotPath(product));
      await open(lotPath(product));
      const seen = await facts();
      assert.equal(seen.Product, product);
      assert.equal(seen.Name, lot.name);
      assert.equal(seen['On hand'], lot.on_hand);
      assert.equal(await text('header nav a[aria-current=page]'), 'Lots');
      // every tab, and the move form, keep the product
      assert.deepEqual((await links('nav.tabs a')).map((l) => l[1]),
        ['', '/edit', '/locations', '/history', '/trace', '/recall'].map((t) => lotPath(product, t)));
      assert.equal(await page.$eval('a.move-link', (a) => a.getAttribute('href')),
        `/ui/moves/new?lot_id=${SHARED}&product_id=${product}`);
      await clickText('nav.tabs a', 'Locations');
      await waitPath(lotPath(product, '/locations'));
      await page.waitForSelector('#tab-content tbody tr');
      const where = await must('GET', apiLotPath(product, '/locations'));
      assert.deepEqual((await tableRows('#tab-content')).map((r) => r.slice(0, 3)),
        where.locations.map((l) => [l.location, l.usage, l.quantity]));
      assert.equal(await text('#tab-content .on-hand'), where.on_hand);
      await clickText('nav.tabs a', 'History');
      await waitPath(lotPath(product, '/history'));
      await page.waitForSelector('#tab-content caption');
      const history = await must('GET', apiLotPath(product, '/moves?limit=100'));
      assert.deepEqual((await tableRows('#tab-content')).map((r) => [r[0], r[1], r[4]]),
        history.events.map((e) => [String(e.position), e.type, e.reference || '—']));
    }
    // GLUE's SHARED-1 was made from PAINT's: the trace names each by its product
    await open(lotPath('PAINT', '/trace'));
    await page.waitForSelector('ul.tree[data-direction=downstream] a');
    assert.deepEqual(await links('ul.tree[data-direction=downstream] a'), [[SHARED, lotPath('GLUE')]]);
    await open(lotPath('GLUE', '/trace'));
    await page.waitForSelector('ul.tree[data-direction=upstream] a');
    assert.deepEqual(await links('ul.tree[data-direction=upstream] a'), [[SHARED, lotPath('PAINT')]]);
    // the recall of PAINT's lot: GLUE's delivery, linked to GLUE's lot
    await open(lotPath('PAINT', '/recall'));
    await page.waitForSelector('#tab-content table');
    const trace = await must('GET', apiLotPath('PAINT', '/trace'));
    assert.equal(trace.deliveries.length, 1);
    // made from it, and delivered
    assert.deepEqual(await links('#tab-content tbody a'), [[SHARED, lotPath('GLUE')], [SHARED, lotPath('GLUE')]]);
    const deliveries = (await page.$$eval('#tab-content table', (ts) => [...ts[1].tBodies[0].rows]
      .map((r) => [...r.cells].map((c) => c.textContent.trim()))));
    assert.deepEqual(deliveries.map((r) => r.slice(0, 4)),
      trace.deliveries.map((d) => [d.location, d.lot_id, d.product_id, d.quantity]));
  });

  await step('create, edit and move on the product-scoped pages', [409], async () => {
    // a third product takes the same lot id: the form opens it under INK
    await open('/ui/lots/new');
    await page.type('#product_id', 'INK');
    await page.type('#name', 'IN1');
    await page.type('#lot_id', SHARED);
    await clickText('button', 'Create');
    await waitPath(lotPath('INK'));
    assert.equal((await facts()).Product, 'INK');
    assert.equal((await must('GET', apiLotPath('INK'))).name, 'IN1');
    // edit GLUE's: the PATCH names the product, PAINT's lot is untouched
    await open(lotPath('GLUE', '/edit'));
    assert.equal(await value('name'), 'GL1');
    let rec = recordWrites();
    await typeInto('reference', 'GLUE-REF');
    await clickText('button', 'Save');
    await waitText('.saved', 'Saved');
    rec.stop();
    assert.deepEqual(rec.writes.map((w) => [w.method, w.path]), [['PATCH', apiLotPath('GLUE')]]);
    assert.equal((await must('GET', apiLotPath('GLUE'))).reference, 'GLUE-REF');
    assert.equal((await must('GET', apiLotPath('PAINT'))).reference, null);
    // move PAINT's from its page: the form comes filled in and sends the product
    await open(lotPath('PAINT'));
    await clickText('a', 'Move stock');
    await waitPath('/ui/moves/new');
    assert.equal(await value('lot_id'), SHARED);
    assert.equal(await value('product_id'), 'PAINT');
    rec = recordWrites();
    await page.type('#quantity', '2');
    await page.type('#from_id', 'WH/Paint');
    await page.type('#to_id', 'WH/Paint2');
    await clickText('button', 'Move');
    await waitText('.answer', 'of product PAINT has 6 on hand');
    rec.stop();
    assert.equal(rec.writes.length, 1);
    assert.equal(rec.writes[0].body.product_id, 'PAINT');
    await clickText('.answer a', SHARED);
    await waitPath(lotPath('PAINT', '/locations'));
    await waitText('#tab-content tbody', 'WH/Paint2');
    const where = await must('GET', apiLotPath('PAINT', '/locations'));
    assert.deepEqual((await tableRows('#tab-content')).map((r) => r.slice(0, 3)),
      where.locations.map((l) => [l.location, l.usage, l.quantity]));
    // without the product, the lot id is ambiguous: said at Product, nothing moved
    await open('/ui/moves/new');
    await page.type('#lot_id', SHARED);
    await page.type('#quantity', '1');
    await page.type('#from_id', 'WH/Paint2');
    await page.type('#to_id', 'WH/Paint');
    await clickText('button', 'Move');
    await waitText('#product_id-error', 'AMBIGUOUS_LOT');
    assert.match(await text('#product_id-error'), /GLUE, INK, PAINT/);
    assert.deepEqual((await must('GET', apiLotPath('PAINT', '/locations'))).locations, where.locations);
  });

  await step('the lists link each lot under its product', [], async () => {
    await open('/ui/lots');
    await typeInto('q', SHARED);
    await clearResults();
    await page.keyboard.press('Enter');
    await waitCaption('3 lots');
    const rows = await tableRows('.results');
    assert.deepEqual(rows.map((r) => r[2]), ['GLUE', 'INK', 'PAINT']);
    assert.deepEqual(await links('.results tbody a'), rows.map((r) => [SHARED, lotPath(r[2])]));
    await open('/ui/expiring');
    await page.waitForSelector('.results tbody tr');
    const fefo = (await must('GET', '/v1/lots?expiring_before=9999-12-31T00:00:00Z&limit=50')).lots;
    assert.deepEqual(await links('.results tbody a'),
      fefo.map((l) => [l.lot_id, `/ui/products/${l.product_id}/lots/${l.lot_id}`]));
    await open('/ui/locations');
    await typeInto('root', 'WH');
    await clearResults();
    await page.keyboard.press('Enter');
    await waitText('ul.locations', 'Paint2');
    const here = (await links('ul.locations a')).filter((l) => l[0] === SHARED);
    assert.deepEqual(here.map((l) => l[1]).sort(),
      [lotPath('GLUE', '/locations'), lotPath('PAINT', '/locations'), lotPath('PAINT', '/locations')]);
    await waitText('ul.locations', `${SHARED} PT1 · PAINT · 2 (INTERNAL)`);
  });

  await step('deep links: every page loads directly, and again on reload', [409], async () => {
    const pages = [
      ['/ui/', 'Lots'], ['/ui/lots', 'Lots'], ['/ui/lots/new', 'New lot'], ['/ui/lots/LOC-1', 'LOC-1'],
      ['/ui/lots/LOC-1/edit', 'LOC-1'], ['/ui/lots/LOC-1/locations', 'LOC-1'],
      ['/ui/lots/LOC-1/history', 'LOC-1'], ['/ui/lots/FLOUR-1/trace', 'FLOUR-1'],
      ['/ui/lots/FLOUR-1/recall', 'FLOUR-1'], ['/ui/moves/new', 'Move stock'],
      ['/ui/locations', 'Stock by location'], ['/ui/rejections', 'Rejections'], ['/ui/expiring', 'Expiring'],
      [`/ui/lots/${SHARED}`, SHARED], [lotPath('PAINT', '/history'), SHARED],
    ];
    for (const [p, heading] of pages) {
      const resp = await page.goto(srv.base + p, { waitUntil: 'load' });
      assert.ok([200, 304].includes(resp.status()), p); // 304: the browser's copy is current
      assert.match(resp.headers()['content-security-policy'], /script-src 'self'/, p);
      assert.equal(resp.headers()['x-content-type-options'], 'nosniff', p);
      await waitText('main h1', heading);
      await page.reload({ waitUntil: 'load' });
      await waitText('main h1', heading);
      assert.equal(await page.evaluate(() => location.pathname), p);
      const tab = p.match(/^\/ui(?:\/products\/[^/]+)?\/lots\/[^/]+\/(edit|locations|history|trace|recall)$/);
      if (tab) assert.equal(await text('nav.tabs a[aria-current=page]'),
        tab[1][0].toUpperCase() + tab[1].slice(1));
    }
    // links navigate in the page; back and forward walk its history
    await page.evaluate(() => { window.sameDocument = true; });
    await clickText('header nav a', 'Locations');
    await waitText('main h1', 'Stock by location');
    await clickText('header nav a', 'Rejections');
    await waitText('main h1', 'Rejections');
    await page.goBack();
    await waitText('main h1', 'Stock by location');
    await page.goForward();
    await waitText('main h1', 'Rejections');
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload');
  });

  await step('assets: Content-Type, ETag and 304', [], async () => {
    for (const [file, type] of [['app.js', 'text/javascript'], ['app.css', 'text/css'],
      ['icon.svg', 'image/svg+xml'], ['api.js', 'text/javascript']]) {
      const r = await fetch(srv.base + '/ui/assets/' + file);
      assert.equal(r.status, 200);
      assert.ok(r.headers.get('content-type').startsWith(type), file);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      const again = await fetch(srv.base + '/ui/assets/' + file,
        { headers: { 'If-None-Match': r.headers.get('etag') } });
      assert.equal(again.status, 304, file);
    }
    assert.equal((await fetch(srv.base + '/ui/assets/nope.js')).status, 404);
  });

  await step('a phone width: readable, no sideways scrolling', [], async () => {
    await page.setViewport({ width: 375, height: 740, isMobile: true });
    for (const [p, shown] of [['/ui/lots', 'main table'], ['/ui/lots/LOC-1/locations', 'main table'],
      ['/ui/lots/new', 'main form'], ['/ui/lots/FLOUR-1/recall', 'main table']]) {
      await open(p);
      await page.waitForSelector(shown);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 375, `${p} is ${wide} px wide`);
    }
    await open('/ui/lots/LOC-1/locations');
    await page.waitForSelector('#tab-content tbody tr');
    await shot('phone-locations');
    await page.setViewport({ width: 1200, height: 900 });
  });

  await browser.close();
  await stopLotlined(srv);
  const failed = results.filter((r) => !r[1]);
  console.log(`${results.length - failed.length}/${results.length} steps passed; pages visited: ` +
    [...visited].sort().join(' '));
  console.log('screenshots in ' + ARTIFACTS);
  process.exit(failed.length === 0 ? 0 : 1);
}

main().catch(async (e) => {
  console.log('FAIL ' + (e.stack || e));
  if (browser) await browser.close().catch(() => {});
  if (srv) await stopLotlined(srv);
  process.exit(1);
});
