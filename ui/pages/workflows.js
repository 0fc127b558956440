// pages/workflows.js — the deployed workflows (#/workflows) and one
// workflow (#/workflows/NAME?version=N&from=A&to=B): its start-run form
// generated from `inputs:` (operators; starting navigates to the new run),
// its triggers with their next fire times, the source of a version with
// syntax highlighting (yamlhl.js), and the versions with a line diff
// between any two (linediff.js). The versions to show and compare are kept
// in the address, so a diff is a link.
import { h, when, errorBox } from '../dom.js';
import { typedFields } from '../typedform.js';
import { highlight } from '../yamlhl.js';
import { diff, hunks } from '../linediff.js';

async function list(root, ctx, signal) {
  root.append(h('h1', {}, 'Workflows'));
  const r = await ctx.api.get('/workflows', null, signal);
  const wfs = r.workflows || [];
  if (!wfs.length) {
    root.append(h('p', { class: 'muted' }, 'No workflow is deployed yet. Deploy one with ',
      h('code', {}, 'weft deploy FILE.yaml'), ' or POST /api/v1/workflows.'));
    return;
  }
  root.append(h('table', { id: 'workflows' },
    h('thead', {}, h('tr', {}, ['Workflow', 'Version', 'Deployed', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, wfs.map((w) => h('tr', { dataset: { name: w.name } },
      h('td', {}, h('a', { href: '#/workflows/' + encodeURIComponent(w.name) }, w.name)),
      h('td', {}, String(w.version)),
      h('td', {}, when(w.deployed_at)),
      h('td', {}, w.deployed_by || ''))))));
}

function triggerText(t) {
  if (t.schedule) return ['schedule ', h('code', {}, t.schedule), t.timezone ? ' (' + t.timezone + ')' : ' (UTC)'];
  if (t.webhook) return ['webhook ', h('code', {}, 'POST /api/v1/hooks/' + t.webhook)];
  if (t.event) return ['event ', h('code', {}, t.event)];
  return [h('code', {}, JSON.stringify(t))];
}

function triggers(wf) {
  const ts = wf.triggers || [];
  const sec = h('section', { 'aria-labelledby': 'h-triggers' }, h('h2', { id: 'h-triggers' }, 'Triggers'));
  if (!ts.length) {
    sec.append(h('p', { class: 'muted' }, 'No triggers: runs start by hand or through the API.'));
    return sec;
  }
  sec.append(h('ol', { id: 'triggers', class: 'triggers' }, ts.map((t, i) => {
    const fires = (wf.next_fires || [])[i] || [];
    return h('li', {}, triggerText(t),
      fires.length ? h('p', { class: 'hint' }, 'Next: ', fires.map((f, j) => [j ? ', ' : '', h('time', { datetime: f }, when(f))])) : null);
  })));
  return sec;
}

function startForm(wf, ctx) {
  const inputs = wf.inputs || [];
  const form = typedFields(inputs, 'in');
  const key = h('input', { id: 'start-key', type: 'text', name: 'idempotency_key', autocomplete: 'off' });
  const result = h('div', { 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'primary', id: 'start' }, 'Start run');
  const el = h('form', { class: 'card', id: 'start-form', 'aria-labelledby': 'h-start' },
    h('h2', { id: 'h-start' }, 'Start a run'),
    inputs.length ? form.el : h('p', { class: 'muted' }, 'This workflow takes no inputs.'),
    h('details', {}, h('summary', {}, 'Idempotency key'),
      h('div', { class: 'field' }, h('label', { for: 'start-key' }, 'Key (starting again with the same key answers the same run)'), key)),
    h('div', { class: 'actions' }, btn),
    result);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const { values, errors } = form.read();
    if (errors) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' },
        errors === 1 ? 'One input needs fixing.' : `${errors} inputs need fixing.`));
      return;
    }
    const body = { inputs: values };
    if (key.value.trim()) body.idempotency_key = key.value.trim();
    btn.disabled = true;
    try {
      const run = await ctx.api.post(`/workflows/${encodeURIComponent(wf.name)}/runs`, body);
      ctx.go('#/runs/' + run.id);
    } catch (e) {
      btn.disabled = false;
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'The run was not started: ' + e.message));
    }
  });
  return el;
}

function diffView(d) {
  const hs = hunks(d);
  const adds = d.filter((l) => l.op === '+').length, dels = d.filter((l) => l.op === '-').length;
  const tbody = h('tbody', {});
  for (const l of hs) {
    if (l.op === '…') {
      tbody.append(h('tr', { class: 'd-skip' }, h('td', { colspan: 3 }, `… ${l.skipped} unchanged line${l.skipped === 1 ? '' : 's'}`)));
      continue;
    }
    const cls = l.op === '+' ? 'd-add' : l.op === '-' ? 'd-del' : 'd-ctx';
    tbody.append(h('tr', { class: cls },
      h('td', { class: 'ln' }, l.a === null ? '' : String(l.a)),
      h('td', { class: 'ln' }, l.b === null ? '' : String(l.b)),
      h('td', { class: 'mono' }, h('span', { class: 'd-op', 'aria-label': l.op === '+' ? 'added' : l.op === '-' ? 'removed' : null }, l.op === ' ' ? ' ' : l.op), ' ', l.text)));
  }
  return [
    h('p', { id: 'diff-summary' }, adds || dels ? `${adds} line${adds === 1 ? '' : 's'} added, ${dels} removed.` : 'The two versions have the same text.'),
    hs.length ? h('div', { class: 'diffbox' }, h('table', { id: 'diff', class: 'diff' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'old'), h('th', { scope: 'col' }, 'new'), h('th', { scope: 'col' }, 'line'))),
      tbody)) : null,
  ];
}

async function one(root, ctx, signal) {
  const name = ctx.params.name;
  const q = ctx.query;
  const enc = encodeURIComponent(name);
  const newest = await ctx.api.get('/workflows/' + enc, null, signal);
  const versions = (newest.versions || []).map((v) => v.version);
  const want = Number(q.get('version')) || newest.version;
  const shown = want === newest.version ? newest : await ctx.api.get('/workflows/' + enc, { version: want }, signal);

  root.append(h('h1', {}, name),
    newest.description ? h('p', {}, newest.description) : null,
    h('p', { class: 'muted' }, `Version ${newest.version}, deployed ${when(newest.deployed_at)}`,
      newest.deployed_by ? ' by ' + newest.deployed_by : '', ' · ',
      h('a', { href: '#/runs?workflow=' + enc }, 'its runs')));

  const side = h('div', {});
  if (ctx.can('operator')) side.append(startForm(newest, ctx));
  side.append(triggers(newest));

  // source of the chosen version
  const link = (params) => {
    const p = new URLSearchParams(q);
    for (const [k, v] of Object.entries(params)) p.set(k, v);
    return '#/workflows/' + enc + '?' + p.toString();
  };
  const pick = h('select', { id: 'src-version' }, versions.map((v) => h('option', { value: v, selected: v === shown.version }, 'version ' + v)));
  pick.addEventListener('change', () => ctx.go(link({ version: pick.value })));
  const source = h('section', { 'aria-labelledby': 'h-source' },
    h('div', { class: 'row' }, h('h2', { id: 'h-source' }, 'Source'),
      h('div', {}, h('label', { for: 'src-version' }, 'Show'), pick)),
    h('pre', { id: 'source', class: 'source', tabindex: '0', 'aria-label': `source of version ${shown.version}` }, highlight(shown.source || '')));

  // versions and the diff between two of them
  const vsec = h('section', { 'aria-labelledby': 'h-versions' }, h('h2', { id: 'h-versions' }, 'Versions'),
    h('table', { id: 'versions' },
      h('thead', {}, h('tr', {}, ['Version', 'Deployed', 'By', 'Hash'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, [...(newest.versions || [])].reverse().map((v) => h('tr', {},
        h('td', {}, h('a', { href: link({ version: v.version }) }, String(v.version))),
        h('td', {}, when(v.deployed_at)),
        h('td', {}, v.deployed_by || ''),
        h('td', { class: 'mono', title: v.hash }, (v.hash || '').slice(0, 12)))))));
  if (versions.length > 1) {
    const to = Number(q.get('to')) || newest.version;
    const from = Number(q.get('from')) || versions[Math.max(0, versions.indexOf(to) - 1)] || versions[0];
    const sel = (id, label, cur) => h('div', {}, h('label', { for: id }, label),
      h('select', { id }, versions.map((v) => h('option', { value: v, selected: v === cur }, 'version ' + v))));
    const form = h('form', { class: 'row', id: 'diff-form', 'aria-label': 'Compare two versions' },
      sel('diff-from', 'Compare', from), sel('diff-to', 'with', to),
      h('button', { type: 'submit' }, 'Show the diff'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      ctx.go(link({ from: form.querySelector('#diff-from').value, to: form.querySelector('#diff-to').value }));
    });
    const out = h('div', { id: 'diff-out', 'aria-live': 'polite' });
    vsec.append(h('h3', {}, 'Diff'), form, out);
    const get = (v) => (v === shown.version ? Promise.resolve(shown)
      : v === newest.version ? Promise.resolve(newest) : ctx.api.get('/workflows/' + enc, { version: v }, signal));
    try {
      const [a, b] = await Promise.all([get(from), get(to)]);
      out.append(h('p', { class: 'hint' }, `From version ${from} to version ${to}:`), ...diffView(diff(a.source || '', b.source || '')));
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      out.append(errorBox(e));
    }
  }
  root.append(h('div', { class: 'split' }, h('div', {}, source, vsec), side));
}

export async function render(root, ctx) {
  const ctl = new AbortController();
  ctx.onCleanup(() => ctl.abort());
  try {
    if (ctx.params.name) await one(root, ctx, ctl.signal);
    else await list(root, ctx, ctl.signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    throw e;
  }
}
