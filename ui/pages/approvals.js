// pages/approvals.js — the approvals inbox: every approval the signed-in
// user may decide (GET /approvals), each with its message, who has decided
// so far, the step's typed fields (defaults filled, editable, checked here
// before anything is sent) and approve / reject with a comment. A refusal
// (self-approval, not an approver, already decided) is said in words next
// to the buttons, from the API's error. The list follows the live event
// stream: decided approvals leave, new ones arrive, a card being filled in
// is never redrawn.
import { h, when, errorBox } from '../dom.js';
import { typedFields } from '../typedform.js';

const key = (a) => `${a.run}/${a.step}/${a.index === null || a.index === undefined ? '' : a.index}`;

// a refusal in words: what happened and what to do, then the server's own reason
function refusal(e) {
  const msg = (e && e.message) || String(e);
  if (e && e.status === 403 && /started this run/.test(msg))
    return 'You started this run, so you may not approve it: separation of duties needs someone else to decide. ' +
      'Ask another approver. (' + msg + ')';
  if (e && e.status === 403)
    return 'You are not one of the approvers of this step, so your decision was refused. (' + msg + ')';
  if (e && e.status === 409)
    return 'This approval is no longer waiting for you: it was already decided, or you decided it before. (' + msg + ')';
  if (e && e.status === 400)
    return 'The server did not accept these values. (' + msg + ')';
  return msg;
}

function card(a, ctx, onDone) {
  const k = key(a);
  const id = 'ap-' + k.replace(/[^A-Za-z0-9]/g, '_');
  const defs = Object.entries(a.fields || {}).map(([name, f]) => ({ name, ...f }));
  const form = typedFields(defs, id + '-f');
  const comment = h('textarea', { id: id + '-comment', rows: 2, name: 'comment' });
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const decided = h('p', { class: 'decided' });
  const approve = h('button', { type: 'button', class: 'primary approve' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'danger reject' }, 'Reject');
  const el = h('section', { class: 'card approval', dataset: { key: k, run: a.run, step: a.step }, 'aria-labelledby': id + '-h' },
    h('h2', { id: id + '-h' }, a.message || `Approve step ${a.step}?`),
    h('p', { class: 'muted' },
      'Run ', h('a', { href: '#/runs/' + a.run, class: 'mono' }, a.run.slice(0, 10)),
      ' · step ', h('code', {}, a.step),
      a.index !== null && a.index !== undefined ? [' · instance ', h('code', {}, String(a.index))] : null,
      ' · waiting since ', when(a.waiting_since),
      a.deadline ? [' · decide by ', when(a.deadline), ' (then ', a.on_timeout || 'fail', ')'] : null),
    decided,
    defs.length ? h('fieldset', {}, h('legend', {}, 'Fields'), form.el) : null,
    h('div', { class: 'field' }, h('label', { for: id + '-comment' }, 'Comment'), comment),
    h('div', { class: 'actions' }, approve, reject),
    result);

  function update(x) {
    const by = x.approved_by || [];
    const approvers = (x.approvers || []).length ? x.approvers.join(', ') : 'anyone with the approver role';
    decided.replaceChildren(
      `Approvals: ${by.length} of ${x.min_approvals || 1}`,
      by.length ? [' — approved by ', h('strong', {}, by.join(', '))] : ' — nobody has decided yet',
      '. Who may decide: ', approvers, '.');
  }
  update(a);

  async function decide(what) {
    result.replaceChildren();
    const body = { comment: comment.value };
    if (a.index !== null && a.index !== undefined) body.index = a.index;
    if (what === 'approve') {
      const { values, errors } = form.read();
      if (errors) {
        result.replaceChildren(h('p', { class: 'error', role: 'alert' },
          errors === 1 ? 'One field needs fixing before you approve.' : `${errors} fields need fixing before you approve.`));
        return;
      }
      body.fields = values;
    }
    approve.disabled = reject.disabled = true;
    try {
      const r = await ctx.api.post(`/runs/${encodeURIComponent(a.run)}/steps/${encodeURIComponent(a.step)}/${what}`, body);
      el.classList.add('done');
      const more = r && r.approvals !== undefined && r.min_approvals && r.approvals < r.min_approvals
        ? ` It has ${r.approvals} of ${r.min_approvals} approvals; it waits for more.`
        : what === 'approve' ? ' The run continues.' : ' The step failed as rejected.';
      result.replaceChildren(h('p', { class: 'ok', role: 'status' },
        (what === 'approve' ? 'Approved.' : 'Rejected.') + more + ' ',
        h('a', { href: '#/runs/' + a.run }, 'See the run')));
      for (const c of el.querySelectorAll('input, textarea, select')) c.disabled = true;
      onDone(k);
    } catch (e) {
      if (e.name === 'AbortError') return;
      approve.disabled = reject.disabled = false;
      result.replaceChildren(h('p', { class: 'error refusal', role: 'alert' }, refusal(e)));
    }
  }
  approve.addEventListener('click', () => decide('approve'));
  reject.addEventListener('click', () => decide('reject'));
  return { el, update };
}

export async function render(root, ctx) {
  const ctl = new AbortController();
  ctx.onCleanup(() => ctl.abort());
  root.append(h('h1', {}, 'Approvals'),
    h('p', { class: 'hint' }, 'Approvals you may decide. The values in the fields are what the step receives; change them before you approve.'));
  const status = h('p', { class: 'hint', id: 'live', 'aria-live': 'polite' });
  const list = h('div', { id: 'approvals', class: 'stack' });
  root.append(status, list);
  const cards = new Map(); // key -> {el, update}
  const finished = new Set(); // decided here: keep them on screen with their result

  async function load() {
    const items = await ctx.api.get('/approvals', null, ctl.signal);
    const arr = Array.isArray(items) ? items : items.approvals || [];
    const seen = new Set();
    for (const a of arr) {
      const k = key(a);
      seen.add(k);
      const c = cards.get(k);
      if (c) { c.update(a); continue; }
      const n = card(a, ctx, (kk) => finished.add(kk));
      cards.set(k, n);
      list.append(n.el);
    }
    for (const [k, c] of cards)
      if (!seen.has(k) && !finished.has(k)) { c.el.remove(); cards.delete(k); }
    const empty = list.querySelector('.empty');
    if (!cards.size && !empty) list.append(h('p', { class: 'muted empty' }, 'Nothing is waiting for your decision.'));
    if (cards.size && empty) empty.remove();
  }

  try {
    await load();
  } catch (e) {
    if (e.name === 'AbortError') return;
    root.append(errorBox(e));
    return;
  }

  let pending = null;
  ctx.onCleanup(() => pending && clearTimeout(pending));
  const reload = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { await load(); } catch (e) { if (e.name !== 'AbortError') status.textContent = e.message; }
    }, 300);
  };
  ctx.api.events({}, {
    signal: ctl.signal,
    onOpen: () => { status.textContent = 'Live: new approvals appear here as runs reach them.'; reload(); },
    onError: (e) => { status.textContent = 'No live updates: ' + e.message; },
    onEvent: (ev) => {
      if (ev.type === 'approval' || (ev.type === 'step' && ev.data && ev.data.status === 'waiting')) reload();
    },
  });
}
