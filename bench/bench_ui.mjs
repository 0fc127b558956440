// bench_ui.mjs — the web UI's figures (issue 15 item 9), from the browser's
// own timings (Performance API inside Debian chromium, driven by
// playwright-core from tests/ui/node_modules):
//
//   node bench/bench_ui.mjs [--repeat 5] [--steps-small 10000] [--steps-big 100000] [--runs 100000]
//   (needs build/weft and build/gen_runs: cmake --build build; npm ci in tests/ui)
//
// Before the server starts, one home gets: a layered `set` workflow of
// 10,000 steps and one of 100,000 steps, each run by `weft run` (the real
// engine), and 100,000 finished runs copied from a one-step run by
// build/gen_runs (the store API in batched transactions). Then
// `weft server` serves it and each page is opened --repeat times in a fresh
// browser context (no cache), signed in, and timed from navigation start:
//
//  1. run page, 10,000 steps: "interactive" = the graph drawn on the canvas,
//     the step list filled, and no long task (> 50 ms, PerformanceObserver
//     'longtask') still running: max(ready, end of the last long task);
//     also the response to a click on a step (click -> the panel shows it).
//     Goal < 1 s.
//  2. run page, 100,000 steps: the graph drawn (the canvas's first frame
//     with nodes). Goal < 5 s.
//  3. runs page with 100,000 runs in the store: first paint and first
//     contentful paint (the 'paint' entries), and the first page of runs
//     in the table. Goal: first paint < 500 ms.
//  4. the UI's assets: bytes of every file under ui/ (and gzipped, for
//     information). Goal < 300 KB.
// For each: where the time went (HTML+scripts, the API calls as
// resource timings, drawing). Medians and ranges go to stdout and
// bench/out/ui.json; the load average is printed beside them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..');
if (!process.env.TMPDIR && fs.existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm'; // the store on tmpfs: fast to fill
const lib = await import(path.join(ROOT, 'tests', 'ui', 'lib.mjs'));
const { Server, BIN, CHROMIUM, loadPlaywright } = lib;

const args = process.argv.slice(2);
const opt = (name, d) => { const i = args.indexOf('--' + name); return i >= 0 ? Number(args[i + 1]) : d; };
const REPEAT = opt('repeat', 5), SMALL = opt('steps-small', 10000), BIG = opt('steps-big', 100000), RUNS = opt('runs', 100000);
const GEN = path.join(path.dirname(BIN), 'gen_runs');
for (const [p, what] of [[BIN, 'build/weft'], [GEN, 'build/gen_runs'], [CHROMIUM, 'chromium']])
  if (!fs.existsSync(p)) { console.error(`weft: bench_ui: ${what} is missing at ${p}: build it (cmake --build build) / apt-get install chromium`); process.exit(1); }

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const fmt = (xs) => `median ${med(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

function lattice(file, name, n) {
  const width = Math.max(1, Math.round(Math.sqrt(n)));
  const out = [`name: ${name}`, 'steps:'];
  for (let i = 0; i < n; i++) {
    const layer = Math.floor(i / width), k = i % width;
    const needs = layer === 0 ? '' : `, needs: [s${(layer - 1) * width + k}, s${(layer - 1) * width + ((k + 1) % width)}]`;
    out.push(`  s${i}: {set: {v: ${i}}${needs}}`);
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
}

function weft(s, ...a) {
  return execFileSync(BIN, a, { cwd: s.tmp, env: s.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}
function runOf(s, file) {
  const t0 = Date.now();
  execFileSync(BIN, ['run', file], { cwd: s.tmp, env: s.env, stdio: 'ignore' });
  const id = JSON.parse(weft(s, 'runs', '--json', '--limit', '1'))[0].id;
  return { id, ms: Date.now() - t0 };
}

// in every page before its scripts: long tasks, and a frame loop that
// notes when the page's readiness conditions first hold
const INIT = () => {
  window.__bench = { long: [], marks: {} };
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.long.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
  } catch (_) { /* no long task API */ }
  const want = {
    graph: () => { const c = document.querySelector('#graph'); return c && Number(c.dataset.drawn) > 0; },
    list: () => !!document.querySelector('#steplist button'),
    rows: () => !!document.querySelector('#runs-body tr[data-run]'),
  };
  const tick = () => {
    for (const [k, f] of Object.entries(want)) if (!(k in window.__bench.marks) && f()) window.__bench.marks[k] = performance.now();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
};

// CPU time (user + system, ms; 10 ms resolution) the server process has used
function serverCpu(s) {
  const f = fs.readFileSync(`/proc/${s.proc.pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(v[11]) + Number(v[12])) * 10;
}

async function open(browser, s, token, hash, ready) {
  const cpu0 = serverCpu(s);
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.addInitScript(INIT);
  await context.addInitScript((t) => sessionStorage.setItem('weft.token', t), token);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(s.base + '/' + hash);
  await page.waitForFunction((keys) => keys.every((k) => k in window.__bench.marks), ready, { timeout: 120000, polling: 50 });
  await page.waitForTimeout(300); // let trailing long tasks be reported
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').map((r) => ({ name: new URL(r.name).pathname + new URL(r.name).search,
      start: r.startTime, end: r.responseEnd, ttfb: r.responseStart - r.startTime, bytes: r.encodedBodySize }));
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
    return { marks: window.__bench.marks, long: window.__bench.long, dcl: nav.domContentLoadedEventEnd, res, paint };
  });
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  m.server_cpu_ms = serverCpu(s) - cpu0; // what the server spent on this page's requests
  m.long_total_ms = m.long.reduce((a, [, d]) => a + d, 0); // the page's main thread busy in long tasks
  return { context, page, m };
}

// where the time went, medians over the repetitions
function where(parts) {
  const m = (f) => med(parts.map(f).filter((x) => x !== null && x !== undefined && !isNaN(x))).toFixed(0);
  return `where: HTML+scripts (DOMContentLoaded) ${m((p) => p.dcl)} ms; GET /runs/{id} ${m((p) => p.run && p.run.ms)} ms ` +
    `(${m((p) => p.run && p.run.bytes / 1e3)} kB); GET graph ${m((p) => p.graph && p.graph.ms)} ms ` +
    `(${m((p) => p.graph && p.graph.bytes / 1e3)} kB), ends at ${m((p) => p.graph && p.graph.end)} ms; drawn at ${m((p) => p.graph_drawn)} ms; ` +
    `then the timeline's GET /audit?run= ${m((p) => p.audit && p.audit.ms)} ms (${m((p) => p.audit && p.audit.bytes / 1e3)} kB); ` +
    `server CPU ${m((p) => p.server_cpu_ms)} ms; page long tasks ${m((p) => p.long_total_ms)} ms`;
}

function api(m, re) {
  const r = m.res.find((x) => re.test(x.name));
  return r ? { ms: r.end - r.start, ttfb: r.ttfb, end: r.end, bytes: r.bytes } : null;
}

async function main() {
  const s = new Server({ bench: 'viewer' });
  const out = { date: new Date().toISOString(), load_before: load(), repeat: REPEAT };
  try {
    console.log(`preparing in ${s.tmp} (load ${load()})`);
    const small = path.join(s.tmp, 'small.yaml'), big = path.join(s.tmp, 'big.yaml'), one = path.join(s.tmp, 'one.yaml');
    lattice(small, 'small', SMALL);
    lattice(big, 'big', BIG);
    fs.writeFileSync(one, 'name: one\ninputs:\n  n: {type: integer, default: 1}\nsteps:\n  a: {set: {v: 1}}\n');
    const r1 = runOf(s, one);
    let t0 = Date.now();
    execFileSync(GEN, [s.home, r1.id, String(RUNS)], { stdio: 'inherit' });
    out.gen_runs_ms = Date.now() - t0;
    const rs = runOf(s, small), rb = runOf(s, big);
    out.prepare = { small_run_ms: rs.ms, big_run_ms: rb.ms, gen_runs_ms: out.gen_runs_ms };
    console.log(`  ${SMALL}-step run ${rs.ms} ms, ${BIG}-step run ${rb.ms} ms, ${RUNS} runs generated in ${out.gen_runs_ms} ms`);
    await s.start();
    const token = s.token('bench');
    const { chromium } = loadPlaywright();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    try {
      // warm the server's definition cache and the OS page cache once (not timed)
      for (const id of [rs.id, rb.id]) { await s.call(token, 'GET', '/runs/' + id); await s.call(token, 'GET', `/runs/${id}/graph`); }

      // 1. 10,000 steps: interactive
      const inter = [], ready = [], click = [], parts = [];
      for (let i = 0; i < REPEAT; i++) {
        const { context, page, m } = await open(browser, s, token, `#/runs/${rs.id}`, ['graph', 'list']);
        const rdy = Math.max(m.marks.graph, m.marks.list);
        const lastLong = m.long.filter(([st]) => st < rdy + 1000).reduce((a, [st, d]) => Math.max(a, st + d), 0);
        ready.push(rdy);
        inter.push(Math.max(rdy, lastLong));
        parts.push({ dcl: m.dcl, run: api(m, /\/api\/v1\/runs\/[^/]+$/), graph: api(m, /\/graph$/), audit: api(m, /\/audit\?run=/), graph_drawn: m.marks.graph, list: m.marks.list,
          server_cpu_ms: m.server_cpu_ms, long_total_ms: m.long_total_ms, long_tasks: m.long.map(([st, d]) => [Math.round(st), Math.round(d)]) });
        // response to a click on a step in the list
        const name = await page.$eval('#steplist button:nth-child(5)', (b) => b.dataset.step);
        const t = await page.evaluate(async (step) => {
          const b = document.querySelector(`#steplist button[data-step="${step}"]`);
          const t0 = performance.now();
          b.click();
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          const ok = document.querySelector('#step-panel') && document.querySelector('#step-panel').textContent.includes(step);
          return ok ? performance.now() - t0 : -1;
        }, name);
        click.push(t);
        await context.close();
      }
      out.small = { steps: SMALL, interactive_ms: inter, ready_ms: ready, click_to_panel_ms: click, parts };
      console.log(`1. run page, ${SMALL} steps: interactive ${fmt(inter)}; graph+list ready ${fmt(ready)}; click→panel ${fmt(click)} (goal < 1000 ms)`);
      console.log('   ' + where(parts));

      // 2. 100,000 steps: graph drawn
      const drawn = [], partsB = [];
      for (let i = 0; i < REPEAT; i++) {
        const { context, m } = await open(browser, s, token, `#/runs/${rb.id}`, ['graph']);
        drawn.push(m.marks.graph);
        partsB.push({ dcl: m.dcl, run: api(m, /\/api\/v1\/runs\/[^/]+$/), graph: api(m, /\/graph$/), audit: api(m, /\/audit\?run=/), graph_drawn: m.marks.graph,
          server_cpu_ms: m.server_cpu_ms, long_total_ms: m.long_total_ms, long_tasks: m.long.map(([st, d]) => [Math.round(st), Math.round(d)]) });
        await context.close();
      }
      out.big = { steps: BIG, graph_drawn_ms: drawn, parts: partsB };
      console.log(`2. run page, ${BIG} steps: graph drawn ${fmt(drawn)} (goal < 5000 ms)`);
      console.log('   ' + where(partsB));

      // 3. runs page with 100,000 runs
      const fp = [], fcp = [], rows = [], partsR = [];
      for (let i = 0; i < REPEAT; i++) {
        const { context, m } = await open(browser, s, token, '#/runs', ['rows']);
        fp.push(m.paint['first-paint']);
        fcp.push(m.paint['first-contentful-paint']);
        rows.push(m.marks.rows);
        partsR.push({ dcl: m.dcl, server_cpu_ms: m.server_cpu_ms, long_total_ms: m.long_total_ms, runs: api(m, /\/api\/v1\/runs\?/), workflows: api(m, /\/api\/v1\/workflows$/) });
        await context.close();
      }
      out.runs = { runs: RUNS + 3, first_paint_ms: fp, first_contentful_paint_ms: fcp, rows_ms: rows, parts: partsR };
      console.log(`3. runs page, ${RUNS + 3} runs in the store: first paint ${fmt(fp)}; first contentful paint ${fmt(fcp)}; ` +
        `first 50 runs in the table ${fmt(rows)} (goal: first paint < 500 ms)`);
    } finally {
      await browser.close();
    }

    // 4. the assets
    let bytes = 0, gz = 0, files = 0;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else { const b = fs.readFileSync(p); bytes += b.length; gz += zlib.gzipSync(b, { level: 9 }).length; files++; }
      }
    };
    walk(path.join(ROOT, 'ui'));
    out.assets = { files, bytes, gzip_bytes: gz };
    console.log(`4. UI assets: ${files} files, ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB; gzip ${(gz / 1024).toFixed(1)} KiB) (goal < 300 KB)`);
  } finally {
    await s.stop();
  }
  out.load_after = load();
  console.log(`load average before ${out.load_before}, after ${out.load_after} (${os.cpus().length} CPUs)`);
  fs.mkdirSync(path.join(here, 'out'), { recursive: true });
  fs.writeFileSync(path.join(here, 'out', 'ui.json'), JSON.stringify(out, null, 1));
  console.log('details (where the time went, per repetition): bench/out/ui.json');
}

await main();
