// dom.js — small helpers every page shares: building elements without
// innerHTML (no markup from data is ever parsed), times and durations in
// words, status badges.

// h('a', {href: '#/runs', class: 'x', onclick: fn}, 'text', child, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export const STATUSES = ['queued', 'pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'skipped'];

export function badge(status) {
  return h('span', { class: 'badge st-' + (status || 'pending') }, status || 'pending');
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

export function duration(fromIso, toIso) {
  if (!fromIso) return '';
  const a = Date.parse(fromIso), b = toIso ? Date.parse(toIso) : Date.now();
  if (isNaN(a) || isNaN(b)) return '';
  let s = Math.max(0, (b - a) / 1000);
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 60) return s.toFixed(1) + ' s';
  const m = Math.floor(s / 60); s = Math.round(s % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}

export function json(v) { return JSON.stringify(v, null, 2); }

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);
