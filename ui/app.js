// app.js — the shell: sign-in from the one-time link, who is signed in,
// the light/dark theme, the navigation and the hash router that renders one
// page module at a time.
//
// A page is a module in pages/ exporting
//   export async function render(root, ctx)
// with ctx = {api, user, role, can(role), params, query, onCleanup(fn), go(hash)}.
// onCleanup functions run when the page is left (abort streams, timers).
import { api, ApiError, getToken, setToken, clearToken } from './api.js';
import { routes, match } from './routes.js';
import { h, clear, errorBox } from './dom.js';

const RANK = { viewer: 1, operator: 2, admin: 3 };
const state = { me: null, cleanups: [], seq: 0 };

// /login#token=T (weft token create USER --login): keep the token for this
// tab and take it out of the address bar and the history at once.
function takeLoginToken() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', '/#/runs');
}

// theme: 'auto' follows prefers-color-scheme; the toggle cycles auto, light, dark
function applyTheme(t) {
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const b = document.getElementById('theme');
  if (b) b.textContent = 'Theme: ' + (t || 'auto');
}
function initTheme() {
  applyTheme(localStorage.getItem('weft.theme') || 'auto');
  document.getElementById('theme').addEventListener('click', () => {
    const order = ['auto', 'light', 'dark'];
    const cur = localStorage.getItem('weft.theme') || 'auto';
    const next = order[(order.indexOf(cur) + 1) % order.length];
    localStorage.setItem('weft.theme', next);
    applyTheme(next);
  });
}

async function whoami() {
  if (!getToken()) return null;
  try {
    return await api.get('/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { clearToken(); return null; }
    throw e;
  }
}

function renderChrome() {
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  const out = document.getElementById('signout');
  const cur = (location.hash || '#/runs').split('?')[0];
  if (state.me) {
    for (const r of routes.filter((x) => x.nav))
      nav.append(h('a', { href: r.pattern, 'aria-current': cur.startsWith(r.pattern) ? 'page' : null }, r.nav));
    who.append('Signed in as ', h('strong', {}, state.me.user), ' (', state.me.role, ')');
    out.hidden = false;
  } else {
    out.hidden = true;
  }
}

function cleanup() {
  const fns = state.cleanups;
  state.cleanups = [];
  for (const f of fns) { try { f(); } catch (_) { /* keep going */ } }
}

async function show() {
  const seq = ++state.seq;
  cleanup();
  const main = document.getElementById('main');
  const m = match(location.hash || '#/runs');
  renderChrome();
  if (!state.me && !(m && m.route.public)) {
    location.replace('#/login');
    return;
  }
  clear(main);
  if (!m) {
    document.title = 'Not found · weft';
    main.append(h('h1', {}, 'Not found'),
      h('p', {}, 'There is no page at ', h('code', {}, location.hash), '. ', h('a', { href: '#/runs' }, 'See the runs'), '.'));
    return;
  }
  document.title = m.route.title + ' · weft';
  const ctx = {
    api,
    user: state.me && state.me.user,
    role: state.me && state.me.role,
    can: (role) => !!state.me && (RANK[state.me.role] || 0) >= (RANK[role] || 99),
    params: m.params,
    query: m.query,
    onCleanup: (fn) => state.cleanups.push(fn),
    go: (hash) => { location.hash = hash; },
    signedIn: async (token) => {
      setToken(token);
      state.me = await whoami();
      if (!state.me) throw new Error('that token is unknown, expired or revoked');
      location.hash = '#/runs';
    },
  };
  try {
    const mod = await import(m.route.module);
    if (seq !== state.seq) return;
    await mod.render(main, ctx);
    // after a navigation, put the keyboard at the new page (unless the page
    // focused something itself, as the sign-in page does)
    const at = document.activeElement;
    if (state.navigated && (!at || at === document.body || at.closest('header')))
      main.focus({ preventScroll: true });
    state.navigated = true;
  } catch (e) {
    if (seq !== state.seq) return;
    if (e instanceof ApiError && e.status === 401) {
      clearToken();
      state.me = null;
      location.replace('#/login');
      return;
    }
    main.append(errorBox(e));
  }
}

async function boot() {
  takeLoginToken();
  initTheme();
  document.getElementById('signout').addEventListener('click', () => {
    clearToken();
    state.me = null;
    location.hash = '#/login';
  });
  try {
    state.me = await whoami();
  } catch (e) {
    document.getElementById('main').append(errorBox(e));
  }
  window.addEventListener('hashchange', show);
  await show();
}

boot();
