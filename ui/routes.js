// routes.js — the UI's pages: one entry per hash route. Adding a page is
// adding its module in pages/ and one entry here (nav: its label in the top
// navigation, or null for pages reached by links). A hash no entry matches
// shows "not found". pattern: segments, ":name" binds ctx.params.name.
export const routes = [
  { pattern: '#/runs', module: './pages/runs.js', nav: 'Runs', title: 'Runs' },
  { pattern: '#/runs/:id', module: './pages/run.js', nav: null, title: 'Run' },
  { pattern: '#/login', module: './pages/login.js', nav: null, title: 'Sign in', public: true },
  { pattern: '#/approvals', module: './pages/approvals.js', nav: 'Approvals', title: 'Approvals' },
  { pattern: '#/workflows', module: './pages/workflows.js', nav: 'Workflows', title: 'Workflows' },
  { pattern: '#/workflows/:name', module: './pages/workflows.js', nav: null, title: 'Workflow' },
  { pattern: '#/audit', module: './pages/audit.js', nav: 'Audit', title: 'Audit' },
];

// The route a hash names: {route, params, query}, or null.
export function match(hash) {
  const [path, qs] = (hash || '#/runs').split('?');
  const segs = path.split('/');
  for (const route of routes) {
    const want = route.pattern.split('/');
    if (want.length !== segs.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      if (want[i].startsWith(':')) {
        try { params[want[i].slice(1)] = decodeURIComponent(segs[i]); } catch (_) { ok = false; }
        ok = ok && segs[i] !== '';
      } else {
        ok = want[i] === segs[i];
      }
    }
    if (ok) return { route, params, query: new URLSearchParams(qs || '') };
  }
  return null;
}
