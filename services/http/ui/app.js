// app.js — the console's shell: the router (every /ui/... path is a page
// the server answers with this same HTML; the path says which), links
// that navigate without a reload, the token field, and the page life
// cycle (a page may return a stop function: its polling ends with it).
import * as api from './api.js';
import { h } from './dom.js';
import { lotsPage, newLotPage } from './lots.js';
import { lotPage, TABS } from './lot.js';
import { movePage } from './move.js';
import { locationsPage, rejectionsPage, expiringPage } from './lists.js';

const dec = decodeURIComponent;
const TAB = `(?:/(${TABS.join('|')}))?`;

const ROUTES = [
  [/^\/ui\/?$/, () => lotsPage],
  [/^\/ui\/lots\/?$/, () => lotsPage],
  [/^\/ui\/lots\/new\/?$/, () => newLotPage],
  [new RegExp(`^/ui/lots/([^/]+)${TAB}/?$`),
    (m) => (main, nav) => lotPage(main, nav, { lot_id: dec(m[1]) }, m[2] || 'view')],
  [new RegExp(`^/ui/products/([^/]+)/lots/([^/]+)${TAB}/?$`),
    (m) => (main, nav) => lotPage(main, nav, { product_id: dec(m[1]), lot_id: dec(m[2]) }, m[3] || 'view')],
  [/^\/ui\/moves\/new\/?$/, () => movePage],
  [/^\/ui\/locations\/?$/, () => locationsPage],
  [/^\/ui\/rejections\/?$/, () => rejectionsPage],
  [/^\/ui\/expiring\/?$/, () => expiringPage],
];

let stopPage = null;

function notFound(main) {
  main.replaceChildren(h('h1', {}, 'No such page'),
    h('p', {}, 'The console has no page at ', h('code', {}, location.pathname), '. ',
      h('a', { href: '/ui/lots' }, 'Go to the lots.')));
}

function pageFor(path) {
  for (const [re, make] of ROUTES) {
    const m = path.match(re);
    if (m) return make(m);
  }
  return notFound;
}

function markCurrent(path) {
  for (const a of document.querySelectorAll('header nav a')) {
    const here = a.getAttribute('href');
    const onLot = path.startsWith('/ui/products/') || (path.startsWith('/ui/lots/') && path !== '/ui/lots/new');
    const current = path === here || (here === '/ui/lots' && (/^\/ui\/?$/.test(path) || onLot));
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render() {
  if (stopPage) stopPage();
  stopPage = null;
  const main = document.getElementById('main');
  const path = location.pathname;
  markCurrent(path);
  main.replaceChildren();
  const stop = await pageFor(path)(main, navigate);
  if (location.pathname === path && typeof stop === 'function') stopPage = stop;
  else if (typeof stop === 'function') stop();
}

// Go to a console URL without reloading; replace: no new history entry.
export function navigate(url, { replace = false, focus = true } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render().then(() => {
    if (!focus) return;
    document.getElementById('main').focus();
  });
}

function onClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}

function setupToken() {
  const form = document.getElementById('token-form');
  const field = document.getElementById('token');
  const showSet = () => {
    field.placeholder = api.token() ? 'set for this tab' : '';
  };
  form.hidden = !api.token();
  showSet();
  window.addEventListener('lotline:token-needed', () => {
    if (!form.hidden) return;
    form.hidden = false;
    field.focus();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    api.setToken(field.value.trim());
    field.value = '';
    showSet();
    render();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    api.setToken('');
    field.value = '';
    showSet();
    render();
  });
}

document.addEventListener('click', onClick);
window.addEventListener('popstate', () => render());
setupToken();
render();
