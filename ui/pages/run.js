// pages/run.js — one run: its header (status, workflow, trigger, times,
// parent and child runs), the operator's buttons (cancel, retry), the step
// graph on a canvas with a keyboard-usable step list beside it, the Gantt
// timeline of attempts, and the panel of the selected step. Everything is
// kept current by the run's live events; each time the stream (re)connects
// the snapshot is reloaded, so nothing between the two is missed.
import { h, clear, badge, when, duration, errorBox, TERMINAL } from '../dom.js';
import { GraphView } from '../graph.js';
import { Gantt } from '../gantt.js';
import { stepPanel } from '../steppanel.js';

const LIST_PAGE = 200;

export async function render(root, ctx) {
  const id = ctx.params.id;
  const ctl = new AbortController();
  ctx.onCleanup(() => ctl.abort());
  const api = ctx.api;

  // The run and its graph in parallel (both routes take an id prefix): on a
  // 10,000-step run this halves the wait before the page is interactive.
  let [run, graph] = await Promise.all([
    api.get('/runs/' + encodeURIComponent(id), null, ctl.signal),
    api.get(`/runs/${encodeURIComponent(id)}/graph`, null, ctl.signal),
  ]);
  let selected = ctx.query.get('step') || null;
  let selIndex = ctx.query.has('index') ? Number(ctx.query.get('index')) : null;

  const head = h('section', { class: 'runhead', 'aria-label': 'Run' });
  const msg = h('div', { id: 'run-msg', 'aria-live': 'polite' });
  const canvas = h('canvas', { id: 'graph', tabindex: '0', role: 'img',
    'aria-label': 'Step graph coloured by status. Arrow keys pan, plus and minus zoom, 0 fits. The step list has the same steps.' });
  const tools = h('div', { class: 'graphtools' },
    h('button', { type: 'button', onclick: () => gv.zoom(1.25), 'aria-label': 'Zoom in' }, '+'),
    h('button', { type: 'button', onclick: () => gv.zoom(0.8), 'aria-label': 'Zoom out' }, '−'),
    h('button', { type: 'button', onclick: () => gv.fit() }, 'Fit'),
    h('span', { class: 'hint' }, 'Drag to pan, wheel to zoom, click a step.'));
  const filter = h('input', { id: 'step-filter', type: 'search', placeholder: 'Filter steps', 'aria-label': 'Filter steps by name or status' });
  const list = h('div', { class: 'steplist', id: 'steplist', role: 'group', 'aria-label': 'Steps' });
  const ganttBox = h('div', { class: 'gantt', id: 'gantt' });
  const panel = h('aside', { class: 'panel card', id: 'step-panel', 'aria-label': 'Selected step' });

  root.append(head, msg,
    h('div', { class: 'split' },
      h('div', {},
        h('h2', {}, 'Graph'),
        h('div', { class: 'graphbox' }, tools, canvas),
        h('h2', { id: 'steps-h' }, 'Steps'), filter, list,
        h('h2', {}, 'Timeline'), ganttBox),
      panel));

  const gv = new GraphView(canvas, { onSelect: (s) => select(s, null) });
  canvas.weftGraph = gv; // the tests read node positions and statuses here
  ctx.onCleanup(() => gv.dispose());
  const gantt = new Gantt(ganttBox, { onSelect: (s, i) => select(s, i) });

  function renderHead() {
    clear(head);
    const acts = h('div', { class: 'actions' });
    if (ctx.can('operator')) {
      if (!TERMINAL.has(run.status))
        acts.append(h('button', { type: 'button', id: 'cancel', class: 'danger', onclick: () => act('cancel', {}) }, 'Cancel run'));
      if (run.status === 'failed' || run.status === 'cancelled')
        acts.append(h('button', { type: 'button', id: 'retry', onclick: () => act('retry', {}) }, 'Retry failed steps'));
    }
    const kids = run.children || [];
    head.append(
      h('h1', {}, 'Run ', h('span', { class: 'mono' }, run.id)),
      h('dl', {},
        h('div', {}, h('dt', {}, 'Status'), h('dd', { id: 'run-status' }, badge(run.status))),
        h('div', {}, h('dt', {}, 'Workflow'), h('dd', {}, run.workflow)),
        h('div', {}, h('dt', {}, 'Trigger'), h('dd', {}, run.trigger || '')),
        h('div', {}, h('dt', {}, 'Started by'), h('dd', {}, run.started_by || '')),
        h('div', {}, h('dt', {}, 'Started'), h('dd', {}, when(run.started_at))),
        h('div', {}, h('dt', {}, 'Took'), h('dd', {}, duration(run.started_at, run.finished_at))),
        run.parent ? h('div', {}, h('dt', {}, 'Parent run'),
          h('dd', {}, h('a', { href: '#/runs/' + run.parent, id: 'parent' }, run.parent.slice(0, 10)), run.parent_step ? ` (step ${run.parent_step})` : '')) : null,
        kids.length ? h('div', {}, h('dt', {}, 'Child runs'),
          h('dd', { id: 'children' }, kids.map((k, i) => [i ? ', ' : '', h('a', { href: '#/runs/' + k.id }, `${k.step || k.workflow} `), badge(k.status)]))) : null),
      acts);
    if (run.error) head.append(h('p', { class: 'error', role: 'status' }, 'Error: ' + (run.error.message || JSON.stringify(run.error))));
    head.append(h('details', { id: 'run-io', class: 'io' },
      h('summary', {}, 'Inputs and outputs'),
      h('h3', {}, 'Inputs'), h('pre', { id: 'run-inputs' }, JSON.stringify(run.inputs || {}, null, 2)),
      h('h3', {}, 'Outputs'), h('pre', { id: 'run-outputs' }, JSON.stringify(run.outputs || {}, null, 2))));
  }

  async function act(what, body) {
    msg.replaceChildren();
    try {
      run = await api.post(`/runs/${run.id}/${what}`, body);
      msg.append(h('p', { class: 'muted' }, what === 'cancel' ? 'Cancel requested.' : `Retry started${body.from ? ' from ' + body.from : ''}.`));
      renderAll();
    } catch (e) {
      msg.append(errorBox(e));
    }
  }

  let listShown = LIST_PAGE;
  function renderList() {
    const f = filter.value.trim().toLowerCase();
    const match = graph.nodes.filter((n) => !f || n.id.toLowerCase().includes(f) || (gv.byId.get(n.id) || n).status.includes(f));
    clear(list);
    for (const n of match.slice(0, listShown)) {
      const st = (gv.byId.get(n.id) || n).status;
      list.append(h('button', { type: 'button', 'aria-pressed': n.id === selected ? 'true' : 'false', dataset: { step: n.id },
        onclick: () => select(n.id, null) },
      badge(st), h('span', {}, n.id), n.instances !== null && n.instances !== undefined ? h('span', { class: 'muted' }, `×${n.instances}`) : null));
    }
    if (match.length > listShown)
      list.append(h('button', { type: 'button', id: 'more-steps', onclick: () => { listShown += LIST_PAGE; renderList(); } },
        `Show more (${match.length - listShown} more)`));
  }
  filter.addEventListener('input', () => { listShown = LIST_PAGE; renderList(); });

  // the panel is drawn again only when what it shows changed (a redraw
  // would restart a streaming log)
  let panelCtl = null, shownKey = null;
  const panelKey = () => {
    const u = (run.steps || {})[selected] || {};
    return JSON.stringify([selected, selIndex, run.status, u.status, u.attempts, u.instance_counts || null]);
  };
  function renderPanel() {
    shownKey = panelKey();
    if (panelCtl) panelCtl.abort();
    panelCtl = new AbortController();
    ctl.signal.addEventListener('abort', () => panelCtl.abort());
    stepPanel(panel, {
      ctx, run, step: selected, index: selIndex, signal: panelCtl.signal,
      kind: (graph.nodes.find((n) => n.id === selected) || {}).kind,
      onRetryFrom: (s) => act('retry', { from: s }),
      onIndex: (i) => select(selected, i),
    });
  }

  function select(step, index) {
    selected = step;
    selIndex = index;
    gv.select(step, { center: true });
    const p = new URLSearchParams();
    if (step) p.set('step', step);
    if (index !== null && index !== undefined) p.set('index', index);
    history.replaceState(null, '', `#/runs/${run.id}${p.toString() ? '?' + p : ''}`);
    renderList();
    renderPanel();
  }

  function renderAll() {
    renderHead();
    renderList();
    renderPanel();
  }

  gv.setGraph(graph);
  if (selected) gv.select(selected, { center: true });
  renderAll();

  async function loadTimeline() {
    try {
      const text = await api.get('/audit', { run: run.id }, ctl.signal);
      for (const line of String(text).split('\n')) {
        if (!line) continue;
        let e;
        try { e = JSON.parse(line); } catch (_) { continue; }
        gantt.add({ kind: e.kind, at_ms: e.at_ms, ...(e.data || {}) });
      }
      gantt.render();
    } catch (e) {
      if (e.name !== 'AbortError') ganttBox.replaceChildren(errorBox(e));
    }
  }
  loadTimeline();

  // live: step colours at once; the run's JSON (header, panel, counts) and
  // the graph (for_each counts) reloaded at most a few times a second
  let timer = null, ganttTimer = null;
  const refresh = () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      try {
        [run, graph] = await Promise.all([
          api.get('/runs/' + run.id, null, ctl.signal),
          api.get(`/runs/${run.id}/graph`, null, ctl.signal),
        ]);
        gv.setGraph(graph);
        renderHead();
        renderList();
        const key = panelKey();
        if (selected && key !== shownKey) renderPanel();
      } catch (e) {
        if (e.name !== 'AbortError') msg.replaceChildren(errorBox(e));
      }
    }, Math.max(250, graph.nodes.length / 10)); // a 10,000-step run: once a second
  };
  ctx.onCleanup(() => { clearTimeout(timer); clearTimeout(ganttTimer); });
  api.events({ run: run.id }, {
    signal: ctl.signal,
    onOpen: () => refresh(),
    onError: (e) => msg.replaceChildren(errorBox(e)),
    onEvent: (ev) => {
      const d = ev.data || {};
      if (d.run && d.run !== run.id) return;
      if (ev.type === 'step' && d.step && (d.index === null || d.index === undefined) && d.status && d.kind === 'step.status')
        gv.setStatus(d.step, d.status);
      if (gantt.add(d) && !ganttTimer)
        ganttTimer = setTimeout(() => { ganttTimer = null; gantt.render(); }, 300);
      if (ev.type === 'run' || (ev.type === 'step' && d.kind === 'step.status')) refresh();
    },
  });
}
