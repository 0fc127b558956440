// test_shell.mjs — the shell: sign-in by the one-time link, who is signed
// in, signing in by pasting a token, "not found", light and dark, the
// embedded assets (types, ETag, CSP, size) and that /api/ still needs a token.
import fs from 'node:fs';
import path from 'node:path';
import { Server, openPage, axe, shot, assert, signIn, ROOT } from './lib.mjs';

async function withServer(users, fn) {
  const s = await new Server(users).start();
  try { return await fn(s); } finally { await s.stop(); }
}

export const tests = {
  async login_via_the_one_time_link_keeps_the_token_out_of_the_url({ browser }) {
    await withServer({ vera: 'viewer' }, async (s) => {
      const { context, page } = await openPage(browser, s);
      const link = await signIn(page, s, 'vera');
      assert(/\/login#token=/.test(link), 'the link is BASE/login#token=TOKEN: ' + link);
      assert(!page.url().includes('token'), 'the token left the address bar: ' + page.url());
      assert(page.url() === s.base + '/#/runs', 'landed on the runs page: ' + page.url());
      const who = await page.textContent('#who');
      assert(who.includes('vera') && who.includes('viewer'), 'who is signed in: ' + who);
      const stored = await page.evaluate(() => sessionStorage.getItem('weft.token'));
      assert(stored && link.endsWith(stored), 'the token is kept in sessionStorage');
      // the history has no entry with the token either
      const back = await page.evaluate(() => history.length);
      assert(back <= 2, 'history entries: ' + back);
      await page.waitForSelector('h1:text("Runs")');
      await axe(page, 'runs page (light)');
      page.checkClean();
      // signing out forgets the token
      await page.click('#signout');
      await page.waitForSelector('#token');
      assert(await page.evaluate(() => sessionStorage.getItem('weft.token')) === null, 'signed out');
      await axe(page, 'login page');
      await shot(page, 'login');
      page.checkClean();
      await context.close();
    });
  },

  async pasting_a_token_signs_in_and_unknown_pages_say_not_found({ browser }) {
    await withServer({ olga: 'operator' }, async (s) => {
      const { context, page } = await openPage(browser, s);
      await page.goto(s.base + '/');
      await page.waitForSelector('#token'); // not signed in: the sign-in page
      await page.fill('#token', s.token('olga'));
      await page.click('button[type=submit]');
      await page.waitForSelector('#who strong');
      assert((await page.textContent('#who')).includes('operator'), 'role shown');
      await page.goto(s.base + '/#/no-such-page');
      await page.waitForSelector('h1:text("Not found")');
      // pages that are not built yet are not in the navigation
      const nav = await page.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('href')));
      for (const href of nav) {
        await page.goto(s.base + '/' + href);
        await page.waitForSelector('main h1');
        assert(await page.textContent('main h1') !== 'Not found', 'nav link ' + href + ' has a page');
      }
      page.checkClean();
      await context.close();
    });
  },

  async dark_mode_and_the_theme_toggle_pass_axe({ browser }) {
    await withServer({ dora: 'viewer' }, async (s) => {
      const { context, page } = await openPage(browser, s, { colorScheme: 'dark' });
      await signIn(page, s, 'dora');
      await page.waitForSelector('h1:text("Runs")');
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert(bg === 'rgb(13, 17, 23)', 'dark background from prefers-color-scheme: ' + bg);
      await axe(page, 'runs page (dark)');
      await page.click('#theme'); // auto -> light
      assert(await page.evaluate(() => document.documentElement.dataset.theme) === 'light', 'toggle to light');
      const bg2 = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert(bg2 === 'rgb(255, 255, 255)', 'light background: ' + bg2);
      await axe(page, 'runs page (light by the toggle)');
      await page.click('#theme'); // light -> dark
      assert(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'toggle to dark');
      page.checkClean();
      await context.close();
    });
  },

  async assets_are_embedded_typed_cached_strict_and_small() {
    await withServer({}, async (s) => {
      const dir = path.join(ROOT, 'ui');
      const files = [];
      const walk = (d) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p); else files.push(p);
        }
      };
      walk(dir);
      const total = files.reduce((n, f) => n + fs.statSync(f).size, 0);
      assert(total < 300 * 1024, `the UI's assets are ${total} bytes, over 300 KB`);
      const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' };
      for (const f of files) {
        const rel = path.relative(dir, f);
        const res = await fetch(s.base + '/ui/' + rel);
        assert(res.status === 200, rel + ' served: ' + res.status);
        const body = Buffer.from(await res.arrayBuffer());
        assert(body.equals(fs.readFileSync(f)), rel + ' served as it is in ui/ (rebuild after editing ui/)');
        assert((res.headers.get('content-type') || '').startsWith(types[path.extname(f)]), rel + ' type ' + res.headers.get('content-type'));
        const csp = res.headers.get('content-security-policy') || '';
        assert(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe'), 'CSP: ' + csp);
        assert(res.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
        const etag = res.headers.get('etag');
        assert(etag, rel + ' has an ETag');
        const again = await fetch(s.base + '/ui/' + rel, { headers: { 'If-None-Match': etag } });
        assert(again.status === 304, rel + ' revalidates to 304: ' + again.status);
      }
      for (const p of ['/', '/login']) {
        const res = await fetch(s.base + p);
        assert(res.status === 200 && (await res.text()).includes('/ui/app.js'), p + ' is the app');
      }
      for (const p of ['/ui/nope.js', '/ui/../weft.db', '/nope', '/ui/']) {
        const res = await fetch(s.base + p);
        assert(res.status === 404, p + ' is 404, not ' + res.status);
      }
      const api = await fetch(s.base + '/api/v1/runs');
      assert(api.status === 401, 'the API still needs a token: ' + api.status);
      const me = await fetch(s.base + '/api/v1/me');
      assert(me.status === 401, '/api/v1/me needs a token: ' + me.status);
    });
  },
};
