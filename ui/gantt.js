// gantt.js — the timeline of a run's attempts: one lane per step (or
// for_each instance), one bar per attempt from attempt.started to
// attempt.finished, coloured by how it ended; a retry (attempt 2 and later)
// is outlined, so retries are visible at a glance. Built from the run's
// audit entries (GET /audit?run=ID) and kept current by the live events.
import { h, clear } from './dom.js';

const MAX_LANES = 400; // lanes drawn; the rest are counted

export class Gantt {
  constructor(root, { onSelect } = {}) {
    this.root = root;
    this.onSelect = onSelect;
    this.lanes = new Map(); // "step" or "step[i]" -> {step, index, bars: Map(attempt -> {start, end, status})}
    this.t0 = null;
    this.end = null;
  }

  // one audit entry or live event: {kind, step, index, attempt, status, at_ms | at}
  add(e) {
    if (!e || (e.kind !== 'attempt.started' && e.kind !== 'attempt.finished') || !e.step) return false;
    const index = e.index === undefined ? null : e.index;
    const key = index === null ? e.step : `${e.step}[${index}]`;
    const t = e.at_ms || Date.parse(e.at);
    if (!t) return false;
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { key, step: e.step, index, bars: new Map(), first: t }));
    const n = e.attempt || 1;
    const bar = lane.bars.get(n) || { start: t, end: null, status: 'running', attempt: n };
    if (e.kind === 'attempt.started') bar.start = t;
    else { bar.end = t; bar.status = e.status || 'succeeded'; }
    lane.bars.set(n, bar);
    lane.first = Math.min(lane.first, bar.start);
    this.t0 = this.t0 === null ? t : Math.min(this.t0, t);
    this.end = this.end === null ? t : Math.max(this.end, t);
    return true;
  }

  render() {
    clear(this.root);
    const lanes = [...this.lanes.values()].sort((a, b) => a.first - b.first);
    if (!lanes.length) {
      this.root.append(h('p', { class: 'muted' }, 'No attempt has started yet.'));
      return;
    }
    const running = lanes.some((l) => [...l.bars.values()].some((b) => b.end === null));
    const end = running ? Math.max(this.end, Date.now()) : this.end;
    const span = Math.max(1, end - this.t0);
    const rows = lanes.slice(0, MAX_LANES).map((l) => {
      const lane = h('div', { class: 'lane' });
      for (const b of [...l.bars.values()].sort((x, y) => x.attempt - y.attempt)) {
        const bar = h('span', {
          class: `bar st-${b.status === 'retrying' ? 'waiting' : b.status}${b.attempt > 1 ? ' retry' : ''}`,
          title: `${l.key} attempt ${b.attempt}: ${b.status}, ${(((b.end || end) - b.start) / 1000).toFixed(2)} s`,
        });
        bar.style.left = ((b.start - this.t0) / span) * 100 + '%';
        bar.style.width = (((b.end || end) - b.start) / span) * 100 + '%';
        lane.append(bar);
      }
      const retries = l.bars.size > 1 ? ` (${l.bars.size} attempts)` : '';
      return h('div', { class: 'g', dataset: { lane: l.key } },
        h('span', { title: l.key + retries },
          h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); this.onSelect && this.onSelect(l.step, l.index); } }, l.key),
          retries),
        lane);
    });
    this.root.append(...rows);
    if (lanes.length > MAX_LANES)
      this.root.append(h('p', { class: 'hint' }, `Showing the first ${MAX_LANES} of ${lanes.length} lanes.`));
    this.root.append(h('p', { class: 'hint' }, `0 to ${(span / 1000).toFixed(2)} s. Outlined bars are retries.`));
  }
}
