// yamlhl.js — a small YAML highlighter for workflow sources: one line at a
// time, it tells keys, strings, numbers, true/false/null, comments, list
// dashes, anchors/tags and weft's ${{ expressions }} apart, and builds
// <span class="y-..."> elements (never markup from text). Block scalars
// (`run: |`) are shown as strings, with any ${{ }} inside marked.
// It is for reading, not a parser: anything it does not know stays plain.
import { h } from './dom.js';

const SCALAR = /^(true|false|null|~|yes|no|on|off)$/i;
const NUMBER = /^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/;

// splits text into plain and ${{ ... }} pieces
function exprs(text, cls) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const a = text.indexOf('${{', i);
    if (a < 0) { out.push(span(cls, text.slice(i))); break; }
    const b = text.indexOf('}}', a + 3);
    const end = b < 0 ? text.length : b + 2;
    if (a > i) out.push(span(cls, text.slice(i, a)));
    out.push(span('y-expr', text.slice(a, end)));
    i = end;
  }
  return out;
}

function span(cls, text) {
  return cls ? h('span', { class: cls }, text) : text;
}

// the end of a quoted string starting at i (index after the closing quote)
function quoted(s, i) {
  const q = s[i];
  let j = i + 1;
  while (j < s.length) {
    if (q === '"' && s[j] === '\\') { j += 2; continue; }
    if (s[j] === q) {
      if (q === "'" && s[j + 1] === "'") { j += 2; continue; }
      return j + 1;
    }
    j++;
  }
  return s.length;
}

// a flow or plain value: strings, numbers, scalars, comments, flow punctuation
function value(s) {
  const out = [];
  let i = 0, plain = '';
  const flush = () => {
    if (!plain) return;
    const t = plain.trim();
    const lead = plain.slice(0, plain.indexOf(t));
    const trail = plain.slice(lead.length + t.length);
    if (lead) out.push(lead);
    if (NUMBER.test(t)) out.push(span('y-num', t));
    else if (SCALAR.test(t)) out.push(span('y-bool', t));
    else if (t) out.push(...exprs(t, 'y-str'));
    if (trail) out.push(trail);
    plain = '';
  };
  while (i < s.length) {
    const c = s[i];
    if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) { flush(); out.push(span('y-com', s.slice(i))); return out; }
    if ((c === '"' || c === "'") && !plain.trim()) {
      flush();
      const e = quoted(s, i);
      out.push(...exprs(s.slice(i, e), 'y-str'));
      i = e;
      continue;
    }
    if ('{}[],'.includes(c)) { flush(); out.push(span('y-punct', c)); i++; continue; }
    if (c === ':' && (s[i + 1] === ' ' || i + 1 === s.length) && plain.trim()) {
      // a key inside a flow mapping: {type: string}
      const t = plain;
      plain = '';
      const lead = t.slice(0, t.length - t.trimStart().length);
      out.push(lead, span('y-key', t.trim()), span('y-punct', ':'));
      i++;
      continue;
    }
    if ((c === '&' || c === '*' || c === '!') && !plain.trim()) {
      flush();
      let j = i + 1;
      while (j < s.length && !/[\s,{}[\]]/.test(s[j])) j++;
      out.push(span('y-tag', s.slice(i, j)));
      i = j;
      continue;
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

// one line outside a block scalar: indentation, dashes, key, value
function line(s) {
  const out = [];
  let i = 0;
  while (i < s.length && s[i] === ' ') i++;
  if (i) out.push(s.slice(0, i));
  while (s[i] === '-' && (s[i + 1] === ' ' || i + 1 === s.length)) {
    out.push(span('y-dash', '-'));
    i++;
    while (s[i] === ' ') { out.push(' '); i++; }
  }
  const rest = s.slice(i);
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},&*!|>?%@`][^#]*?)(\s*):(\s|$)/.exec(rest);
  if (m && !rest.startsWith('${{')) {
    out.push(span('y-key', m[1]), m[2], span('y-punct', ':'), m[3]);
    out.push(...value(rest.slice(m[0].length)));
  } else {
    out.push(...value(rest));
  }
  return out;
}

// The highlighted source: an element per line, in a <code>.
// maxLines: past it the rest is plain text (huge generated workflows).
export function highlight(src, maxLines = 20000) {
  const lines = src.replace(/\n$/, '').split('\n');
  const code = h('code', { class: 'yaml' });
  let block = -1; // indentation of the key that opened a block scalar
  for (let n = 0; n < lines.length; n++) {
    const s = lines[n];
    if (n >= maxLines) {
      code.append(lines.slice(n).join('\n') + '\n');
      break;
    }
    const ind = s.length - s.trimStart().length;
    if (block >= 0 && (s.trim() === '' || ind > block)) {
      code.append(h('span', { class: 'y-line' }, ...exprs(s, 'y-str')), '\n');
      continue;
    }
    block = -1;
    if (/:\s*[|>][-+0-9]*\s*(#.*)?$/.test(s) || /^\s*-\s*[|>][-+0-9]*\s*$/.test(s)) block = ind;
    code.append(h('span', { class: 'y-line' }, ...line(s)), '\n');
  }
  return code;
}
