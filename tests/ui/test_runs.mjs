// test_runs.mjs — the runs page: it lists, filters (workflow, status,
// trigger, time window) through the API's own filters, pages with the
// cursor, and shows new runs and status changes live.
import { Server, openPage, axe, shot, assert, signIn, waitFor } from './lib.mjs';

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

