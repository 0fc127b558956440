// steppanel.js — the selected step of a run: status, attempts, times,
// error, outputs, the log of any attempt (streamed with follow=1 while the
// attempt runs), for a for_each step the counts per status and its
// instances (drill-down to one instance and its log), and for operators
// "Retry from this step" once the run has ended.
import { h, clear, badge, when, duration, json, errorBox, TERMINAL } from './dom.js';

const INSTANCES_PAGE = 100;

function facts(u) {
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Status'), h('dd', { class: 'step-status' }, badge(u.status)),
    h('dt', {}, 'Attempts'), h('dd', {}, String(u.attempts || 0)),
    h('dt', {}, 'Started'), h('dd', {}, when(u.started_at) || '—'),
    h('dt', {}, 'Finished'), h('dd', {}, when(u.finished_at) || '—'),
    h('dt', {}, 'Took'), h('dd', {}, duration(u.started_at, u.finished_at) || '—'),
    u.exit_code !== null && u.exit_code !== undefined ? [h('dt', {}, 'Exit code'), h('dd', {}, String(u.exit_code))] : null);
}

// kinds whose attempts run a program and so have a log; others (set, wait,
// approval, workflow, noop, http, agent) get a button that asks on demand
const LOGGED = new Set(['run', 'command']);

function logView(args) {
  if (LOGGED.has(args.kind)) return logBox(args);
  const box = h('div', {});
  box.append(h('button', { type: 'button', id: 'show-log', onclick: () => box.replaceChildren(logBox(args)) }, 'Show the log'));
  return box;
}

function logBox({ ctx, run, step, index, unit, signal }) {
  const box = h('div', {});
  const attempts = Math.max(1, unit.attempts || 1);
  const pick = h('select', { id: 'log-attempt', 'aria-label': 'Attempt' },
    Array.from({ length: attempts }, (_, i) => h('option', { value: i + 1, selected: i + 1 === attempts }, `attempt ${i + 1}`)));
  const pre = h('pre', { class: 'log', id: 'log', tabindex: '0', role: 'log', 'aria-label': 'Log', 'aria-live': 'off' });
  const state = h('p', { class: 'hint', id: 'log-state' });
  let ctl = null;
  async function load() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    signal.addEventListener('abort', () => ctl.abort());
    clear(pre);
    const attempt = Number(pick.value);
    const live = attempt === attempts && !TERMINAL.has(unit.status) && unit.status !== 'pending';
    const q = { attempt };
    if (index !== null && index !== undefined) q.index = index;
    if (live) q.follow = 1;
    state.textContent = live ? 'Streaming while the attempt runs…' : '';
    try {
      if (live) {
        await ctx.api.follow(`/runs/${run.id}/logs/${encodeURIComponent(step)}`, q, (t) => pre.append(t), ctl.signal);
        state.textContent = 'The attempt ended.';
      } else {
        pre.textContent = await ctx.api.get(`/runs/${run.id}/logs/${encodeURIComponent(step)}`, q, ctl.signal);
        if (!pre.textContent) state.textContent = 'The log is empty.';
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      state.textContent = e.status === 404 ? 'No log: nothing has run for this attempt.' : e.message;
    }
  }
  pick.addEventListener('change', load);
  box.append(h('div', { class: 'row' }, h('h3', {}, 'Log'), pick), state, pre);
  load();
  return box;
}

async function instances({ ctx, run, step, signal, onIndex, box }) {
  clear(box);
  box.append(h('p', { class: 'hint' }, 'Loading instances…'));
  let full;
  try {
    full = await ctx.api.get('/runs/' + run.id, { all_instances: 1 }, signal);
  } catch (e) {
    if (e.name !== 'AbortError') box.replaceChildren(errorBox(e));
    return;
  }
  const all = ((full.steps || {})[step] || {}).instances || [];
  let status = '', shown = INSTANCES_PAGE;
  const table = h('table', { id: 'instances' });
  const filterSel = h('select', { id: 'instance-status', 'aria-label': 'Instances with status' },
    h('option', { value: '' }, 'every status'),
    [...new Set(all.map((i) => i.status))].map((s) => h('option', { value: s }, s)));
  function draw() {
    const rows = all.filter((i) => !status || i.status === status);
    clear(table);
    table.append(h('thead', {}, h('tr', {}, ['#', 'Status', 'Attempts', 'Took'].map((c) => h('th', { scope: 'col' }, c)))));
    const tb = h('tbody', {});
    for (const i of rows.slice(0, shown))
      tb.append(h('tr', {},
        h('td', {}, h('a', { href: '#', dataset: { index: i.index }, onclick: (ev) => { ev.preventDefault(); onIndex(i.index); } }, String(i.index))),
        h('td', {}, badge(i.status)), h('td', {}, String(i.attempts)), h('td', {}, duration(i.started_at, i.finished_at))));
    table.append(tb);
    if (rows.length > shown)
      table.append(h('caption', {}, h('button', { type: 'button', onclick: () => { shown += INSTANCES_PAGE; draw(); } }, `Show more (${rows.length - shown})`)));
  }
  filterSel.addEventListener('change', () => { status = filterSel.value; shown = INSTANCES_PAGE; draw(); });
  draw();
  box.replaceChildren(h('div', { class: 'row' }, h('label', { for: 'instance-status' }, 'Show'), filterSel), table);
}

// The step's definition as the run used it (the run's own version, from its
// evidence pack): what its inputs, env and command are made of.
function stepBlock(source, step) {
  const lines = source.split('\n');
  const esc = step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^(\\s+)(["']?)${esc}\\2\\s*:`);
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]);
    if (!m) continue;
    const ind = m[1].length, out = [lines[i]];
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j];
      if (l.trim() && l.length - l.trimStart().length <= ind) break;
      out.push(l);
    }
    return out.join('\n').replace(/\s+$/, '');
  }
  return null;
}

function definition({ ctx, run, step, signal }) {
  const box = h('div', { id: 'step-def' });
  const btn = h('button', { type: 'button', id: 'show-def' }, 'Show the step\'s definition');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const ev = await ctx.api.get(`/runs/${run.id}/evidence`, null, signal);
      const src = (ev.definition && ev.definition.source) || '';
      const block = stepBlock(src, step);
      box.replaceChildren(h('h3', {}, 'Definition'),
        h('p', { class: 'hint' }, 'As this run used it; its ${{ }} expressions are filled in when an attempt starts.'),
        h('pre', { id: 'def-text' }, block || src));
    } catch (e) {
      if (e.name !== 'AbortError') box.replaceChildren(errorBox(e));
    }
  });
  box.append(btn);
  return box;
}

export function stepPanel(panel, { ctx, run, step, kind, index, signal, onRetryFrom, onIndex }) {
  clear(panel);
  if (!step) {
    panel.append(h('h2', {}, 'Step'), h('p', { class: 'muted' }, 'Select a step in the graph or in the step list.'));
    return;
  }
  const u = (run.steps || {})[step];
  if (!u) {
    panel.append(h('h2', {}, step), h('p', { class: 'error' }, 'This run has no step ' + step + '.'));
    return;
  }
  panel.append(h('h2', { id: 'panel-title' }, 'Step ', h('span', { class: 'mono' }, step)));
  if (kind) panel.append(h('p', { class: 'hint' }, 'Kind: ' + kind));
  if (u.description) panel.append(h('p', { class: 'muted' }, u.description));
  panel.append(facts(u));
  if (ctx.can('operator') && TERMINAL.has(run.status))
    panel.append(h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'retry-from', onclick: () => onRetryFrom(step) }, 'Retry from this step')));
  if (u.error) panel.append(h('h3', {}, 'Error'), h('pre', { class: 'error-json' }, json(u.error)));
  panel.append(definition({ ctx, run, step, signal }));
  const isEach = u.instance_counts !== undefined;
  if (isEach) {
    const counts = u.instance_counts || {};
    panel.append(h('h3', {}, 'Instances'),
      h('div', { class: 'counts', id: 'instance-counts' },
        Object.keys(counts).length ? Object.entries(counts).map(([s, n]) => h('span', {}, badge(s), ' ', String(n))) : h('span', { class: 'muted' }, 'none yet')));
    const box = h('div', { id: 'instances-box' });
    panel.append(box);
    if (u.instances_truncated || !Array.isArray(u.instances) || u.instances.length < Object.values(counts).reduce((a, b) => a + b, 0))
      box.append(h('button', { type: 'button', id: 'load-instances', onclick: () => instances({ ctx, run, step, signal, onIndex, box }) }, 'List every instance'));
    else
      instances({ ctx, run, step, signal, onIndex, box });
    if (index !== null && index !== undefined) {
      const inst = (u.instances || []).find((i) => i.index === index) || { status: 'pending', attempts: 1, index };
      panel.append(h('h3', {}, `Instance ${index}`), facts(inst));
      if (inst.error) panel.append(h('pre', {}, json(inst.error)));
      if (inst.outputs && Object.keys(inst.outputs).length) panel.append(h('h3', {}, 'Outputs'), h('pre', {}, json(inst.outputs)));
      panel.append(logView({ ctx, run, step, kind, index, unit: inst, signal }));
    }
    return;
  }
  panel.append(h('h3', {}, 'Outputs'), h('pre', { id: 'outputs' }, json(u.outputs || {})));
  if ((u.attempts || 0) > 0 || !TERMINAL.has(u.status)) panel.append(logView({ ctx, run, step, kind, index: null, unit: u, signal }));
}
