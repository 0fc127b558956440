// linediff.js — a line diff between two texts (Myers' O((N+M)D) algorithm
// after trimming the common head and tail), for the workflow page's
// "versions" diff. diff(a, b) -> [{op: ' ' | '-' | '+', a, b, text}] with
// the 1-based line numbers in a and b (null where the line is not there).
// Past maxD differences it gives up on alignment and answers the middle as
// all removed then all added (still correct, only less minimal).

export function diff(aText, bText, maxD = 1500) {
  const a = aText.split('\n'), b = bText.split('\n');
  if (a[a.length - 1] === '') a.pop();
  if (b[b.length - 1] === '') b.pop();
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const A = a.slice(head, a.length - tail), B = b.slice(head, b.length - tail);
  const out = [];
  for (let i = 0; i < head; i++) out.push({ op: ' ', a: i + 1, b: i + 1, text: a[i] });
  const mid = middle(A, B, maxD);
  let ia = head, ib = head;
  for (const op of mid) {
    if (op === ' ') { out.push({ op, a: ia + 1, b: ib + 1, text: a[ia] }); ia++; ib++; }
    else if (op === '-') { out.push({ op, a: ia + 1, b: null, text: a[ia] }); ia++; }
    else { out.push({ op, a: null, b: ib + 1, text: b[ib] }); ib++; }
  }
  for (let i = 0; i < tail; i++) out.push({ op: ' ', a: ia + i + 1, b: ib + i + 1, text: a[ia + i] });
  return out;
}

// Myers: the shortest edit script as a list of ' ', '-', '+'
function middle(A, B, maxD) {
  const N = A.length, M = B.length;
  if (!N) return Array(M).fill('+');
  if (!M) return Array(N).fill('-');
  const max = Math.min(N + M, maxD);
  const off = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2)); // what round d reads: k-1..k+1 for |k| <= d
    for (let k = -d; k <= d; k += 2) {
      let x = (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < N && y < M && A[x] === B[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= N && y >= M) return backtrack(trace, d, N, M);
    }
  }
  return [...Array(N).fill('-'), ...Array(M).fill('+')]; // too different: no alignment
}

function backtrack(trace, D, N, M) {
  const ops = [];
  let x = N, y = M;
  for (let d = D; d > 0; d--) {
    const v = trace[d], o = d + 1; // v[o + k] is the full array's v[off + k]
    const k = x - y;
    const prevK = (k === -d || (k !== d && v[o + k - 1] < v[o + k + 1])) ? k + 1 : k - 1;
    const px = v[o + prevK], py = px - prevK;
    while (x > px && y > py) { ops.push(' '); x--; y--; }
    if (x === px) ops.push('+'); else ops.push('-');
    x = px; y = py;
  }
  while (x > 0 && y > 0) { ops.push(' '); x--; y--; }
  return ops.reverse();
}

// Groups a diff into hunks with `context` unchanged lines around changes:
// [{lines: [...]}, ...] with {op: '…'} markers between them for skipped runs.
export function hunks(d, context = 3) {
  const keep = new Uint8Array(d.length);
  d.forEach((l, i) => {
    if (l.op === ' ') return;
    for (let j = Math.max(0, i - context); j <= Math.min(d.length - 1, i + context); j++) keep[j] = 1;
  });
  const out = [];
  let skipped = 0;
  for (let i = 0; i < d.length; i++) {
    if (keep[i]) {
      if (skipped) out.push({ op: '…', skipped });
      skipped = 0;
      out.push(d[i]);
    } else skipped++;
  }
  if (skipped && out.length) out.push({ op: '…', skipped });
  return out;
}
