// graph.js — a run's step graph on a <canvas>, for runs of any size.
//
// The server lays the graph out (GET /runs/{id}/graph: each node's layer);
// here a layer is a column and nodes stack in it in definition order. Only
// what is visible is drawn: columns outside the view are skipped and, in a
// column, a binary search finds the first visible node, so a frame costs
// what the screen shows, not what the run has (10,000 or 100,000 steps).
// Drag or arrow keys pan, the wheel or +/- zoom (0 fits), a click or Enter
// on the focused node selects it. Status colours come from the page's CSS
// variables (light or dark). Redraws are batched into one animation frame.
const W = 168, H = 30, GX = 60, GY = 12, PAD = 20;

export class GraphView {
  constructor(canvas, { onSelect } = {}) {
    this.canvas = canvas;
    this.onSelect = onSelect;
    this.nodes = [];
    this.byId = new Map();
    this.cols = []; // per layer: nodes in order
    this.inEdges = new Map(); // node id -> [from ids]
    this.scale = 1; this.ox = PAD; this.oy = PAD;
    this.selected = null;
    this.frame = 0;
    this.drawn = 0; // nodes drawn in the last frame (tests read it)
    this.bind();
  }

  setGraph(g) {
    const keep = this.nodes.length > 0;
    this.nodes = g.nodes.map((n) => ({ ...n }));
    this.byId = new Map(this.nodes.map((n) => [n.id, n]));
    this.cols = [];
    for (const n of this.nodes) {
      const c = this.cols[n.layer] || (this.cols[n.layer] = []);
      n.row = c.length;
      n.x = n.layer * (W + GX);
      n.y = n.row * (H + GY);
      c.push(n);
    }
    for (let i = 0; i < this.cols.length; i++) this.cols[i] = this.cols[i] || [];
    this.inEdges = new Map();
    for (const [from, to] of g.edges) {
      const a = this.inEdges.get(to) || [];
      a.push(from);
      this.inEdges.set(to, a);
    }
    if (!keep) this.fit();
    this.redraw();
  }

  setStatus(id, status) {
    const n = this.byId.get(id);
    if (n && n.status !== status) { n.status = status; this.redraw(); }
  }

  select(id, { center = false } = {}) {
    this.selected = id;
    const n = this.byId.get(id);
    if (n && center) {
      const r = this.canvas.getBoundingClientRect();
      this.ox = r.width / 2 - (n.x + W / 2) * this.scale;
      this.oy = r.height / 2 - (n.y + H / 2) * this.scale;
    }
    this.redraw();
  }

  fit() {
    const r = this.canvas.getBoundingClientRect();
    const w = Math.max(1, this.cols.length * (W + GX) - GX);
    const tallest = Math.max(1, ...this.cols.map((c) => c.length));
    const h = tallest * (H + GY) - GY;
    this.scale = Math.max(0.15, Math.min(1.2, (r.width - 2 * PAD) / w, (r.height - 2 * PAD) / h));
    this.ox = PAD; this.oy = PAD;
    this.redraw();
  }

  zoom(f, cx, cy) {
    const r = this.canvas.getBoundingClientRect();
    if (cx === undefined) { cx = r.width / 2; cy = r.height / 2; }
    const s = Math.max(0.05, Math.min(3, this.scale * f));
    this.ox = cx - (cx - this.ox) * (s / this.scale);
    this.oy = cy - (cy - this.oy) * (s / this.scale);
    this.scale = s;
    this.redraw();
  }

  pan(dx, dy) { this.ox += dx; this.oy += dy; this.redraw(); }

  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  // the node under a point of the canvas (CSS pixels), or null
  hit(px, py) {
    const x = (px - this.ox) / this.scale, y = (py - this.oy) / this.scale;
    const layer = Math.floor(x / (W + GX));
    const col = this.cols[layer];
    if (!col || x - layer * (W + GX) > W) return null;
    const row = Math.floor(y / (H + GY));
    const n = col[row];
    return n && y - row * (H + GY) <= H ? n : null;
  }

  colors() {
    const cs = getComputedStyle(document.documentElement);
    const v = (k) => cs.getPropertyValue(k).trim();
    return {
      bg: v('--panel'), fg: v('--fg'), line: v('--muted'), focus: v('--focus'), onst: v('--on-st'),
      st: (s) => v('--st-' + (s === 'retrying' ? 'waiting' : s)) || v('--st-pending'),
    };
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const r = c.getBoundingClientRect();
    if (c.width !== Math.round(r.width * dpr) || c.height !== Math.round(r.height * dpr)) {
      c.width = Math.round(r.width * dpr);
      c.height = Math.round(r.height * dpr);
    }
    const g = c.getContext('2d');
    const col = this.colors();
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = col.bg;
    g.fillRect(0, 0, r.width, r.height);
    g.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.ox, dpr * this.oy);
    const x0 = -this.ox / this.scale, y0 = -this.oy / this.scale;
    const x1 = x0 + r.width / this.scale, y1 = y0 + r.height / this.scale;
    const l0 = Math.max(0, Math.floor(x0 / (W + GX))), l1 = Math.min(this.cols.length - 1, Math.floor(x1 / (W + GX)));
    const visible = [];
    for (let l = l0; l <= l1; l++) {
      const colNodes = this.cols[l];
      const first = Math.max(0, Math.floor(y0 / (H + GY)));
      const last = Math.min(colNodes.length - 1, Math.floor(y1 / (H + GY)));
      for (let i = first; i <= last; i++) visible.push(colNodes[i]);
    }
    // edges into visible nodes (curves from the right of the need)
    g.strokeStyle = col.line;
    g.lineWidth = 1 / Math.max(this.scale, 0.5);
    g.beginPath();
    for (const n of visible) {
      for (const from of this.inEdges.get(n.id) || []) {
        const a = this.byId.get(from);
        if (!a) continue;
        const ax = a.x + W, ay = a.y + H / 2, bx = n.x, by = n.y + H / 2;
        g.moveTo(ax, ay);
        g.bezierCurveTo(ax + GX / 2, ay, bx - GX / 2, by, bx, by);
      }
    }
    g.stroke();
    const text = this.scale >= 0.45;
    g.font = '12px system-ui, sans-serif';
    g.textBaseline = 'middle';
    for (const n of visible) {
      g.fillStyle = col.st(n.status);
      g.fillRect(n.x, n.y, W, H);
      if (n.id === this.selected) {
        g.strokeStyle = col.focus;
        g.lineWidth = 3 / this.scale;
        g.strokeRect(n.x - 2, n.y - 2, W + 4, H + 4);
      }
      if (text) {
        g.fillStyle = col.onst;
        let label = n.id + (n.instances !== null && n.instances !== undefined ? ` ×${n.instances}` : '');
        if (label.length > 24) label = label.slice(0, 23) + '…';
        g.fillText(label, n.x + 6, n.y + H / 2);
      }
    }
    this.drawn = visible.length;
    c.dataset.drawn = String(visible.length);
  }

  bind() {
    const c = this.canvas;
    let drag = null, moved = false;
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY }; moved = false;
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
      if (moved) { this.pan(dx, dy); drag = { x: e.clientX, y: e.clientY }; }
    });
    c.addEventListener('pointerup', (e) => {
      const was = drag; drag = null;
      if (!was || moved) return;
      const r = c.getBoundingClientRect();
      const n = this.hit(e.clientX - r.left, e.clientY - r.top);
      if (n && this.onSelect) this.onSelect(n.id);
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    c.addEventListener('keydown', (e) => {
      const k = e.key, step = 60;
      if (k === 'ArrowLeft') this.pan(step, 0);
      else if (k === 'ArrowRight') this.pan(-step, 0);
      else if (k === 'ArrowUp') this.pan(0, step);
      else if (k === 'ArrowDown') this.pan(0, -step);
      else if (k === '+' || k === '=') this.zoom(1.2);
      else if (k === '-') this.zoom(1 / 1.2);
      else if (k === '0') this.fit();
      else return;
      e.preventDefault();
    });
    const ro = new ResizeObserver(() => this.redraw());
    ro.observe(c);
    this.dispose = () => { ro.disconnect(); if (this.frame) cancelAnimationFrame(this.frame); };
  }
}
