// pages/runs.js — the runs page: filters (workflow, status, trigger, time
// range) kept in the address (#/runs?status=failed&...), one page of runs
// newest first with cursor paging (GET /runs?cursor=, so page 2,000 of
// 100,000 runs costs what page 1 does), and live updates over the event
// stream: a row changes status in place; on the newest page new runs appear.
import { h, clear, badge, when, duration, errorBox } from '../dom.js';

const PAGE = 50; // runs a page (#/runs?limit=N: 1 to 500)
const STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const TRIGGERS = ['api', 'manual', 'schedule', 'webhook', 'event'];

// <input type=datetime-local> value (local time) <-> RFC 3339 UTC
function toIso(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}
function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function select(id, label, values, current) {
  return h('div', {},
    h('label', { for: id }, label),
    h('select', { id, name: id },
      h('option', { value: '' }, 'any'),
      values.map((v) => h('option', { value: v, selected: v === current }, v))));
}

export async function render(root, ctx) {
  const q = ctx.query;
  const filters = {
    workflow: q.get('workflow') || '', status: q.get('status') || '', trigger: q.get('trigger') || '',
    since: q.get('since') || '', until: q.get('until') || '',
  };
  const cursor = q.get('cursor') || '';
  const ctl = new AbortController();
  ctx.onCleanup(() => ctl.abort());

  root.append(h('h1', {}, 'Runs'));
  let names = [];
  try {
    const wf = await ctx.api.get('/workflows', null, ctl.signal);
    names = (wf.workflows || wf || []).map((w) => w.name);
  } catch (e) {
    if (e.name === 'AbortError') return;
    root.append(errorBox(e));
  }
  if (filters.workflow && !names.includes(filters.workflow)) names.push(filters.workflow);

  const form = h('form', { class: 'row card', id: 'filters', 'aria-label': 'Filter runs' },
    select('f-workflow', 'Workflow', names, filters.workflow),
    select('f-status', 'Status', STATUSES, filters.status),
    select('f-trigger', 'Trigger', TRIGGERS, filters.trigger),
    h('div', {}, h('label', { for: 'f-since' }, 'Started after'),
      h('input', { id: 'f-since', type: 'datetime-local', value: toLocal(filters.since) })),
    h('div', {}, h('label', { for: 'f-until' }, 'Started before'),
      h('input', { id: 'f-until', type: 'datetime-local', value: toLocal(filters.until) })),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'button', id: 'f-clear', onclick: () => ctx.go('#/runs') }, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    const v = (id) => form.querySelector('#' + id).value;
    if (v('f-workflow')) p.set('workflow', v('f-workflow'));
    if (v('f-status')) p.set('status', v('f-status'));
    if (v('f-trigger')) p.set('trigger', v('f-trigger'));
    if (toIso(v('f-since'))) p.set('since', toIso(v('f-since')));
    if (toIso(v('f-until'))) p.set('until', toIso(v('f-until')));
    const s = p.toString();
    ctx.go('#/runs' + (s ? '?' + s : ''));
  });
  root.append(form);

  const live = h('p', { class: 'hint', id: 'live', 'aria-live': 'polite' }, 'Connecting to live updates…');
  const tbody = h('tbody', { id: 'runs-body' });
  const table = h('table', { id: 'runs' },
    h('caption', { class: 'muted', style: null }, cursor ? 'Older runs' : 'Newest runs first'),
    h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'Status', 'Trigger', 'Started', 'Took'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of runs' });
  root.append(live, table, pager);

  const rows = new Map(); // run id -> row
  function row(r, fresh) {
    const tr = h('tr', { dataset: { run: r.id }, class: fresh ? 'fresh' : null },
      h('td', {}, h('a', { href: '#/runs/' + r.id, class: 'mono', title: r.id }, r.id)),
      h('td', {}, r.workflow),
      h('td', { class: 'status' }, badge(r.status)),
      h('td', {}, r.trigger || ''),
      h('td', {}, when(r.started_at)),
      h('td', { class: 'took' }, duration(r.started_at, r.finished_at || (['queued', 'running', 'waiting'].includes(r.status) ? null : r.started_at))));
    rows.set(r.id, tr);
    return tr;
  }

  const limit = Math.min(500, Math.max(1, Number(q.get('limit')) || PAGE));
  const query = () => ({ ...filters, limit, cursor });
  async function load() {
    const page = await ctx.api.get('/runs', query(), ctl.signal);
    const seen = new Set(rows.keys());
    rows.clear();
    clear(tbody);
    for (const r of page.runs) tbody.append(row(r, seen.size > 0 && !seen.has(r.id)));
    if (!page.runs.length)
      tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No runs match these filters.')));
    clear(pager);
    const here = new URLSearchParams(q);
    if (cursor) {
      here.delete('cursor');
      const s = here.toString();
      pager.append(h('a', { href: '#/runs' + (s ? '?' + s : ''), id: 'newest' }, 'Newest'));
    }
    if (page.next_cursor) {
      const next = new URLSearchParams(q);
      next.set('cursor', page.next_cursor);
      pager.append(h('a', { href: '#/runs?' + next.toString(), id: 'older' }, 'Older runs'));
    }
    return page;
  }

  try {
    await load();
  } catch (e) {
    if (e.name === 'AbortError') return;
    root.append(errorBox(e));
    return;
  }

  // live: a known row changes in place; on the newest page a run that
  // matches the filters brings a reload (debounced, one page of 50)
  let pending = null;
  const reload = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { await load(); } catch (e) { if (e.name !== 'AbortError') live.textContent = e.message; }
    }, 300);
  };
  ctx.onCleanup(() => pending && clearTimeout(pending));
  ctx.api.events({}, {
    signal: ctl.signal,
    onOpen: () => { live.textContent = 'Live: runs update as they change.'; },
    onError: (e) => { live.textContent = 'No live updates: ' + e.message; },
    onEvent: (ev) => {
      if (ev.type !== 'run' || !ev.data || !ev.data.run) return;
      const d = ev.data;
      const tr = rows.get(d.run);
      if (tr && d.status) {
        tr.querySelector('.status').replaceChildren(badge(d.status));
        return;
      }
      if (cursor || filters.until) return;
      if (filters.workflow && d.workflow && d.workflow !== filters.workflow) return;
      reload();
    },
  });
}
