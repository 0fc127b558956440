// typedform.js — a form generated from typed definitions: a workflow's
// `inputs:` (the start-run form) and an approval step's `fields:`. Each
// field gets the control its type needs, its default filled in, and its
// value is checked in the browser before anything is sent, with the problem
// said next to the field (aria-invalid, aria-describedby).
//
// defs: [{name, type, default?, required?, description?, enum?}]
// typedFields(defs, prefix) -> {el, read()} where read() gives
//   {values: {name: value}, errors: n} and marks the fields in error.
import { h } from './dom.js';

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array']);

function control(d, id, help) {
  const type = TYPES.has(d.type) ? d.type : 'string';
  const has = d.default !== undefined && d.default !== null;
  const common = { id, name: d.name, 'aria-describedby': help, dataset: { type } };
  if (Array.isArray(d.enum) && d.enum.length) {
    return h('select', common,
      d.required && !has ? h('option', { value: '' }, 'choose…') : null,
      !d.required && !has ? h('option', { value: '' }, '(default)') : null,
      d.enum.map((v, i) => h('option', { value: String(i), selected: has && JSON.stringify(v) === JSON.stringify(d.default) },
        typeof v === 'string' ? v : JSON.stringify(v))));
  }
  if (type === 'boolean')
    return h('input', { ...common, type: 'checkbox', class: 'check', checked: d.default === true });
  if (type === 'object' || type === 'array')
    return h('textarea', { ...common, rows: 4, class: 'mono', spellcheck: 'false' },
      has ? JSON.stringify(d.default, null, 2) : '');
  const attrs = { ...common, type: 'text', value: has ? (type === 'string' ? String(d.default) : JSON.stringify(d.default)) : '' };
  if (type === 'integer' || type === 'number') attrs.inputmode = type === 'integer' ? 'numeric' : 'decimal';
  if (d.required && !has) attrs['aria-required'] = 'true';
  return h('input', attrs);
}

// the value of one field, or throws the words saying what is wrong
function parse(d, el) {
  const type = el.dataset.type;
  if (el.tagName === 'SELECT') {
    if (el.value === '') {
      if (d.required && (d.default === undefined || d.default === null)) throw new Error('choose one of the values');
      return undefined;
    }
    return d.enum[Number(el.value)];
  }
  if (type === 'boolean') return el.checked;
  const raw = el.value;
  if (raw.trim() === '') {
    if (d.required && (d.default === undefined || d.default === null)) throw new Error('required: give a value');
    return undefined; // the default applies
  }
  switch (type) {
    case 'integer': {
      if (!/^\s*-?\d+\s*$/.test(raw)) throw new Error(`must be a whole number (integer), not "${raw}"`);
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) throw new Error('this whole number is too large');
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (!/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw) || !Number.isFinite(n))
        throw new Error(`must be a number, not "${raw}"`);
      return n;
    }
    case 'object': case 'array': {
      let v;
      try { v = JSON.parse(raw); } catch (e) { throw new Error(`must be JSON (${e.message})`); }
      const isArr = Array.isArray(v);
      if (type === 'array' && !isArr) throw new Error('must be a JSON array: [ ... ]');
      if (type === 'object' && (isArr || v === null || typeof v !== 'object')) throw new Error('must be a JSON object: { ... }');
      return v;
    }
    default:
      return raw;
  }
}

export function typedFields(defs, prefix) {
  const el = h('div', { class: 'fields' });
  const items = [];
  for (const d of defs) {
    const id = `${prefix}-${d.name}`;
    const helpId = id + '-help', errId = id + '-err';
    const c = control(d, id, helpId + ' ' + errId);
    const err = h('p', { id: errId, class: 'field-err', role: 'status' });
    const label = h('label', { for: id },
      h('span', { class: 'fname' }, d.name), ' ',
      h('span', { class: 'ftype' }, Array.isArray(d.enum) && d.enum.length ? 'one of ' + d.enum.map((v) => JSON.stringify(v)).join(', ') : d.type || 'string'),
      d.required ? h('span', { class: 'freq' }, ' required') : null);
    const help = h('p', { id: helpId, class: 'hint' }, d.description || '',
      d.default !== undefined && d.default !== null ? (d.description ? ' · ' : '') + 'default ' + JSON.stringify(d.default) : '');
    el.append(h('div', { class: 'field' + (c.type === 'checkbox' ? ' field-check' : '') }, label, c, help, err));
    items.push({ d, c, err });
  }
  function read() {
    const values = {};
    let errors = 0, first = null;
    for (const { d, c, err } of items) {
      try {
        const v = parse(d, c);
        if (v !== undefined) values[d.name] = v;
        c.removeAttribute('aria-invalid');
        err.textContent = '';
      } catch (e) {
        errors++;
        c.setAttribute('aria-invalid', 'true');
        err.textContent = d.name + ': ' + e.message;
        first = first || c;
      }
    }
    if (first) first.focus();
    return { values, errors };
  }
  return { el, read };
}
