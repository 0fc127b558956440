// lib.mjs — the harness of the browser tests: a real `weft server` on a free
// loopback port with its own temporary home, tokens, and Debian chromium
// driven by playwright-core. Every page a test opens is guarded: a console
// error, an uncaught exception, or a request to any origin but the server's
// fails the test (the request is also aborted).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.WEFT_SOURCE_DIR || path.resolve(here, '..', '..');
export const BIN = process.env.WEFT_BIN || path.join(ROOT, 'build', 'weft');
export const CHROMIUM = process.env.WEFT_CHROMIUM || '/usr/bin/chromium';
// Screenshots go to a scratch folder, so a test run leaves the checkout as it
// was; `WEFT_UI_SHOTS=docs/ui` (relative to the checkout) refreshes the docs'.
export const SHOTS = process.env.WEFT_UI_SHOTS
  ? path.resolve(ROOT, process.env.WEFT_UI_SHOTS)
  : path.join(os.tmpdir(), 'weft-ui-shots');
const require = createRequire(import.meta.url);

export function loadPlaywright() {
  return require('playwright-core');
}
export const AXE_SOURCE = () => fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export function osUser() {
  return os.userInfo().username;
}

export class Server {
  // users: {name: role}; the OS user is made admin unless given
  constructor(users = {}) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ui-'));
    this.home = path.join(this.tmp, 'home');
    this.env = { ...process.env, WEFT_HOME: this.home, USER: 'tester' };
    delete this.env.WEFT_SERVER;
    delete this.env.WEFT_TOKEN;
    fs.mkdirSync(this.home, { recursive: true });
    const doc = { users: {}, allow_as: true };
    doc.users[osUser()] = { role: 'admin' };
    for (const [u, role] of Object.entries(users)) doc.users[u] = { role };
    fs.writeFileSync(path.join(this.home, 'users.json'), JSON.stringify(doc));
    fs.chmodSync(path.join(this.home, 'users.json'), 0o600);
    this.weft('runs'); // the home and its store exist
  }

  weft(...args) {
    return execFileSync(BIN, args, { cwd: this.tmp, env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async start() {
    this.logPath = path.join(this.tmp, 'server.log');
    const log = fs.openSync(this.logPath, 'w');
    this.proc = spawn(BIN, ['server', '--listen', '127.0.0.1:0'], { cwd: this.tmp, env: this.env, stdio: ['ignore', 'ignore', log] });
    this.exited = new Promise((r) => this.proc.on('exit', r));
    for (let i = 0; i < 600; i++) {
      const m = /server listening on (\S+?) \(pid/.exec(fs.readFileSync(this.logPath, 'utf8'));
      if (m) { this.base = 'http://' + m[1]; return this; }
      if (this.proc.exitCode !== null) throw new Error('weft server exited: ' + fs.readFileSync(this.logPath, 'utf8'));
      await sleep(50);
    }
    throw new Error('weft server did not start: ' + fs.readFileSync(this.logPath, 'utf8'));
  }

  token(user) {
    return this.weft('token', 'create', user, '--name', 'ui-test').trim();
  }

  loginLink(user) {
    return execFileSync(BIN, ['token', 'create', user, '--login'], {
      cwd: this.tmp, env: { ...this.env, WEFT_SERVER: this.base }, encoding: 'utf8',
    }).trim();
  }

  // the API from the test itself (not the page): {status, body}
  async call(token, method, p, body, type) {
    const init = { method, headers: { Authorization: 'Bearer ' + token } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['Content-Type'] = type || 'application/json';
    }
    const res = await fetch(this.base + '/api/v1' + p, init);
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) { /* text */ }
    return { status: res.status, body: json === null ? text : json, headers: res.headers };
  }

  async deploy(token, yaml) {
    const r = await this.call(token, 'POST', '/workflows', yaml, 'application/yaml');
    if (r.status >= 300) throw new Error('deploy failed: ' + JSON.stringify(r.body));
    return r.body;
  }

  async startRun(token, name, inputs = {}) {
    const r = await this.call(token, 'POST', `/workflows/${encodeURIComponent(name)}/runs`, { inputs });
    if (r.status >= 300) throw new Error('start failed: ' + JSON.stringify(r.body));
    return r.body;
  }

  async waitRun(token, id, pred, what, timeoutMs) {
    return waitFor(async () => {
      const r = await this.call(token, 'GET', '/runs/' + id);
      return r.status === 200 && pred(r.body) ? r.body : null;
    }, what || 'run ' + id, timeoutMs);
  }

  // stops the server; throws when it did not exit cleanly (0 after
  // SIGTERM) or a sanitizer reported anything (an ASan build as WEFT_BIN)
  async stop() {
    let trouble = null;
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      await Promise.race([this.exited, sleep(30000)]);
      if (this.proc.exitCode === null) {
        this.proc.kill('SIGKILL');
        trouble = 'the server did not stop within 30 s of SIGTERM';
      }
    }
    const log = this.logPath && fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : '';
    if (!trouble && this.proc && this.proc.exitCode !== 0) trouble = `the server exited ${this.proc.exitCode}`;
    if (/Sanitizer|runtime error:/.test(log)) trouble = 'a sanitizer report';
    fs.rmSync(this.tmp, { recursive: true, force: true });
    if (trouble) throw new Error(trouble + ':\n' + log.slice(-6000));
  }
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function waitFor(pred, what, timeoutMs = 120000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await pred();
    if (v) return v;
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what);
}

// A browser context on the server's origin with the guards on. allow:
// console errors a test expects (regexps), e.g. a 403 it provokes on purpose.
export async function openPage(browser, server, { colorScheme = 'light', allow = [], viewport } = {}) {
  const context = await browser.newContext({ colorScheme, viewport: viewport || { width: 1280, height: 860 } });
  // generous: ctest runs this beside the whole suite (and under ASan); no
  // assertion is about time, these only bound how long a wait may hang
  context.setDefaultTimeout(90000);
  const page = await context.newPage();
  const origin = new URL(server.base).origin;
  const problems = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (new URL(u).origin !== origin && !u.startsWith('data:')) {
      problems.push('request to another origin: ' + u);
      return route.abort();
    }
    return route.continue();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text())))
      problems.push('console error: ' + m.text() + ' at ' + JSON.stringify(m.location()));
  });
  page.on('pageerror', (e) => problems.push('uncaught exception: ' + e.message));
  page.problems = problems;
  page.checkClean = () => {
    if (problems.length) throw new Error(problems.join('\n'));
  };
  return { context, page };
}

// axe-core on the page as it is now: fails on any serious or critical
// violation. The script is evaluated through the DevTools protocol, so the
// page's Content-Security-Policy stays as strict as it is for users.
export async function axe(page, what) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.evaluate(AXE_SOURCE());
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`axe on ${what}: ` + JSON.stringify(bad, null, 1));
  return res;
}

export async function shot(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage });
}

export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

// signs the page in with a token the way a user does: the one-time link
export async function signIn(page, server, user) {
  const link = server.loginLink(user);
  await page.goto(link);
  await page.waitForSelector('#who strong');
  return link;
}
