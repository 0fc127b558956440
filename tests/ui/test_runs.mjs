// test_runs.mjs — the runs page: it lists, filters (workflow, status,
// trigger, time window) through the API's own filters, pages with the
// cursor, and shows new runs and status changes live.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, openPage, axe, shot, assert, signIn, waitFor } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const OK = 'name: ok\nsteps:\n  a: {run: "echo fine"}\n';
const BAD = 'name: bad\nsteps:\n  a: {run: "echo broken; exit 3"}\n';

async function rows(page) {
  return page.$$eval('#runs-body tr[data-run]', (trs) => trs.map((tr) => ({
    id: tr.dataset.run,
    workflow: tr.children[1].textContent,
    status: tr.children[2].textContent,
    trigger: tr.children[3].textContent,
  })));
}

async function settle(page, n) {
  await waitFor(async () => (await rows(page)).length === n, `${n} rows`);
  return rows(page);
}

export const tests = {
  async the_runs_page_lists_filters_and_pages({ browser }) {
    const s = await new Server({ vera: 'viewer', olga: 'operator' }).start();
    try {
      const op = s.token('olga');
      await s.deploy(op, OK);
      await s.deploy(op, BAD);
      const ids = [];
      for (const wf of ['ok', 'bad', 'ok', 'bad', 'ok']) ids.push((await s.startRun(op, wf)).id);
      for (const id of ids) await s.waitRun(op, id, (r) => ['succeeded', 'failed'].includes(r.status));
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vera');
      let got = await settle(page, 5);
      assert(got.map((r) => r.id).join() === [...ids].reverse().join(), 'newest first: ' + JSON.stringify(got));
      await page.waitForSelector('#live:text("Live")');
      await axe(page, 'runs page');
      await shot(page, 'runs');

      // status through the form
      await page.selectOption('#f-status', 'failed');
      await page.click('#filters button[type=submit]');
      await page.waitForFunction(() => location.hash.includes('status=failed'));
      got = await settle(page, 2);
      assert(got.every((r) => r.status === 'failed' && r.workflow === 'bad'), 'only failed: ' + JSON.stringify(got));
      // workflow and trigger
      await page.selectOption('#f-status', '');
      await page.selectOption('#f-workflow', 'ok');
      await page.click('#filters button[type=submit]');
      got = await settle(page, 3);
      assert(got.every((r) => r.workflow === 'ok' && r.status === 'succeeded'), 'only ok: ' + JSON.stringify(got));
      await page.selectOption('#f-trigger', 'schedule');
      await page.click('#filters button[type=submit]');
      await page.waitForSelector('#runs-body td:text("No runs match")');
      await page.selectOption('#f-trigger', 'api');
      await page.click('#filters button[type=submit]');
      await settle(page, 3);
      // a time window that ends before the first run: none
      await page.click('#f-clear');
      await settle(page, 5);
      await page.goto(s.base + '/#/runs?until=2001-01-01T00:00:00.000Z');
      await page.waitForSelector('#runs-body td:text("No runs match")');
      const first = await s.call(op, 'GET', '/runs/' + ids[0]);
      await page.goto(s.base + '/#/runs?since=' + encodeURIComponent(first.body.started_at));
      await settle(page, 5);

      // cursor paging, two a page
      await page.goto(s.base + '/#/runs?limit=2');
      got = await settle(page, 2);
      assert(got[0].id === ids[4] && got[1].id === ids[3], 'page 1');
      await page.click('#older');
      await waitFor(async () => (await rows(page))[0]?.id === ids[2], 'page 2');
      await page.click('#older');
      got = await waitFor(async () => { const r = await rows(page); return r[0]?.id === ids[0] ? r : null; }, 'page 3');
      assert(got.length === 1 && !(await page.$('#older')), 'the last page has no Older link');
      await page.click('#newest');
      await waitFor(async () => (await rows(page))[0]?.id === ids[4], 'back to the newest');
      page.checkClean();
      await context.close();
    } finally {
      await s.stop();
    }
  },

  async the_keyboard_alone_reaches_a_run_and_its_steps({ browser }) {
    const s = await new Server({ vera: 'viewer', olga: 'operator' }).start();
    try {
      const op = s.token('olga');
      await s.deploy(op, OK);
      const run = await s.startRun(op, 'ok');
      await s.waitRun(op, run.id, (r) => r.status === 'succeeded');
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vera');
      await settle(page, 1);
      // Tab until a run's link has the focus, then Enter
      const tabTo = async (test, what) => {
        for (let i = 0; i < 60; i++) {
          await page.keyboard.press('Tab');
          if (await page.evaluate(test)) return;
        }
        throw new Error('Tab never reached ' + what);
      };
      await tabTo(() => !!document.activeElement?.closest('#runs-body a'), 'a run link');
      await page.keyboard.press('Enter');
      await page.waitForFunction((id) => document.querySelector('h1')?.textContent.includes(id), run.id);
      await tabTo(() => !!document.activeElement?.closest('#steplist button'), 'the step list');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#panel-title')?.textContent === 'Step a');
      // the canvas is in the tab order too
      await page.evaluate(() => document.querySelector('#main').focus());
      await tabTo(() => document.activeElement?.id === 'graph', 'the graph');
      page.checkClean();
      await context.close();
    } finally {
      await s.stop();
    }
  },

  async a_store_of_100000_runs_pages_and_filters({ browser }) {
    const s = new Server({ vera: 'viewer' });
    execFileSync('python3', [path.join(here, 'fill_runs.py'), s.home, '100000']);
    await s.start();
    try {
      const vt = s.token('vera');
      const all = (await s.call(vt, 'GET', '/runs?limit=500')).body.runs;
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vera');
      let got = await settle(page, 50);
      assert(got[0].id === all[0].id && got[49].id === all[49].id, 'the newest 50');
      for (let p = 1; p <= 3; p++) {
        await page.click('#older');
        await waitFor(async () => (await rows(page))[0]?.id === all[50 * p].id, 'page ' + (p + 1));
      }
      // failed ones only: every 7th
      await page.goto(s.base + '/#/runs?status=failed');
      got = await waitFor(async () => { const r = await rows(page); return r.length === 50 && r.every((x) => x.status === 'failed') ? r : null; }, 'failed only');
      // a window in the middle of the 100,000: the page starts at its end
      const mid = (await s.call(vt, 'GET', '/runs/' + all[0].id)).body.started_at;
      const until = new Date(Date.parse(mid) - 50000).toISOString();
      await page.goto(s.base + '/#/runs?until=' + encodeURIComponent(until));
      got = await settle(page, 50);
      assert(got.every((r) => r.id < all[0].id), 'older than the window end');
      const first = (await s.call(vt, 'GET', '/runs/' + got[0].id)).body.started_at;
      assert(Date.parse(first) <= Date.parse(until), `the first run (${first}) is inside the window (${until})`);
      page.checkClean();
      await context.close();
    } finally {
      await s.stop();
    }
  },

  async new_runs_and_status_changes_appear_live({ browser }) {
    const s = await new Server({ vera: 'viewer', olga: 'operator' }).start();
    try {
      const op = s.token('olga');
      const gate = s.tmp + '/gate';
      await s.deploy(op, `name: slow\nsteps:\n  a: {run: 'while [ ! -f ${gate} ]; do sleep 0.05; done'}\n`);
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vera');
      await page.waitForSelector('#live:text("Live")');
      await page.waitForSelector('#runs-body td:text("No runs match")');
      const run = await s.startRun(op, 'slow');
      // the run appears without a reload, running
      await page.waitForSelector(`#runs-body tr[data-run="${run.id}"] .badge:text("running")`);
      (await import('node:fs')).writeFileSync(gate, '');
      await page.waitForSelector(`#runs-body tr[data-run="${run.id}"] .badge:text("succeeded")`);
      page.checkClean();
      await context.close();
    } finally {
      await s.stop();
    }
  },
};

