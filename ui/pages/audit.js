// pages/audit.js — the audit log (#/audit?run=ID): verify the hash chain
// (GET /audit/verify) and say the result in words — when it is broken, the
// first broken entry itself, found by reading the log (GET /audit, JSON
// lines) only as far as that entry; and download a run's evidence pack
// (GET /runs/{id}/evidence) as a file, byte for byte as the server sent it.
// The token never goes into a URL: the pack is fetched with the token in a
// header and handed to the browser as a blob.
import { h, when, errorBox } from '../dom.js';

// the log up to entry `seq`: that entry (parsed), or null
async function findEntry(ctx, seq, signal) {
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  signal.addEventListener('abort', stop);
  let buf = '', found = null;
  try {
    await ctx.api.follow('/audit', null, (chunk) => {
      if (found) return;
      buf += chunk;
      let i;
      while (!found && (i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const e = JSON.parse(line);
          if (e.seq === seq) { found = e; ctl.abort(); }
          else if (e.seq > seq) ctl.abort();
        } catch (_) { /* not one entry: go on */ }
      }
    }, ctl.signal);
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  if (!found && buf.trim()) {
    try { const e = JSON.parse(buf); if (e.seq === seq) found = e; } catch (_) { /* partial */ }
  }
  return found;
}

function verifySection(ctx, signal) {
  const out = h('div', { id: 'verify-out', 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', class: 'primary', id: 'verify' }, 'Verify the chain');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    out.replaceChildren(h('p', { class: 'hint' }, 'Verifying every entry…'));
    try {
      const r = await ctx.api.get('/audit/verify', null, signal);
      if (r.ok) {
        out.replaceChildren(h('p', { class: 'ok', role: 'status', id: 'verify-ok' },
          `The chain holds: ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} verified, each linked to the one before by its hash.`),
          r.head ? h('p', { class: 'hint' }, 'Head hash ', h('code', { class: 'wrap' }, r.head),
            ' — note it down: a later verification can prove nothing before it changed.') : null);
      } else {
        const bad = r.first_bad;
        out.replaceChildren(h('p', { class: 'error', role: 'alert', id: 'verify-bad' },
          bad !== null && bad !== undefined
            ? `The chain is broken at entry ${bad}: ${r.message || 'its hash does not match'}. Entries from there on cannot be trusted.`
            : `The log does not match the store: ${r.message || 'an entry is missing'}.`));
        if (bad !== null && bad !== undefined) {
          const e = await findEntry(ctx, bad, signal);
          if (e) out.append(h('h3', {}, `Entry ${bad}`),
            h('p', { class: 'hint' }, `${e.kind || ''} at ${when(e.at)}`, e.run ? [' in run ', h('a', { href: '#/runs/' + e.run, class: 'mono' }, e.run.slice(0, 10))] : ''),
            h('pre', { id: 'bad-entry', tabindex: '0' }, JSON.stringify(e, null, 2)));
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      out.replaceChildren(errorBox(e));
    } finally {
      btn.disabled = false;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'h-verify' },
    h('h2', { id: 'h-verify' }, 'Verify the audit chain'),
    h('p', {}, 'Every change is an entry in the audit log, chained to the one before by a SHA-256 hash: ' +
      'editing, removing or reordering an entry breaks the chain from there on.'),
    h('div', { class: 'actions' }, btn), out);
}

function evidenceSection(ctx, signal, recent) {
  const input = h('input', { id: 'ev-run', type: 'text', name: 'run', autocomplete: 'off', list: 'ev-runs', class: 'mono',
    value: ctx.query.get('run') || '', 'aria-describedby': 'ev-help' });
  const out = h('div', { id: 'ev-out', 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'primary', id: 'ev-download' }, 'Download the evidence pack');
  const form = h('form', { class: 'row', id: 'ev-form' },
    h('div', { class: 'grow' }, h('label', { for: 'ev-run' }, 'Run id (or a unique prefix)'), input,
      h('datalist', { id: 'ev-runs' }, recent.map((r) => h('option', { value: r.id }, `${r.workflow} · ${r.status} · ${when(r.started_at)}`)))),
    btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = input.value.trim();
    out.replaceChildren();
    if (!id) {
      input.setAttribute('aria-invalid', 'true');
      out.append(h('p', { class: 'error', role: 'alert' }, 'Give the id of a run.'));
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    btn.disabled = true;
    try {
      let text = '';
      await ctx.api.follow(`/runs/${encodeURIComponent(id)}/evidence`, null, (c) => { text += c; }, signal);
      let runId = id, summary = '';
      try {
        const j = JSON.parse(text);
        runId = (j.run && j.run.id) || id;
        const n = Array.isArray(j.audit) ? j.audit.length : (j.audit && j.audit.entries ? j.audit.entries.length : null);
        summary = `${j.run ? j.run.workflow + ', ' + j.run.status : ''}${n !== null ? `, ${n} audit entries` : ''}`;
      } catch (_) { /* keep the bytes as they are */ }
      const name = `evidence-${runId}.json`;
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      const a = h('a', { href: url, download: name, id: 'ev-link' }, name);
      out.append(h('p', { class: 'ok', role: 'status' }, 'The evidence pack of run ', h('code', {}, runId),
        summary ? ` (${summary})` : '', ` is ready, ${text.length.toLocaleString()} bytes: `, a));
      a.click();
      ctx.onCleanup(() => URL.revokeObjectURL(url));
    } catch (e) {
      if (e.name === 'AbortError') return;
      out.append(h('p', { class: 'error', role: 'alert' }, 'No evidence pack: ' + e.message));
    } finally {
      btn.disabled = false;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'h-ev' },
    h('h2', { id: 'h-ev' }, "Download a run's evidence pack"),
    h('p', { id: 'ev-help' }, 'One JSON file with the run, its definition, the hash of its inputs, every decision, ' +
      'agent usage, and its audit entries with the proof that they belong to the chain.'),
    form, out);
}

export async function render(root, ctx) {
  const ctl = new AbortController();
  ctx.onCleanup(() => ctl.abort());
  root.append(h('h1', {}, 'Audit'));
  let recent = [];
  try {
    recent = (await ctx.api.get('/runs', { limit: 20 }, ctl.signal)).runs || [];
  } catch (e) {
    if (e.name === 'AbortError') return;
    root.append(errorBox(e));
  }
  root.append(h('div', { class: 'stack' }, verifySection(ctx, ctl.signal), evidenceSection(ctx, ctl.signal, recent)));
}
