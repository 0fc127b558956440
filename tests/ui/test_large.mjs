// test_large.mjs — a run of 10,000 steps stays usable: the page opens, the
// canvas draws only what is visible (not 10,000 boxes), zooming out draws
// more and panning moves the view, the step list pages (200 at a time) and
// its filter finds any step, and selecting a step from the list centres it.
import { Server, openPage, assert, signIn, waitFor } from './lib.mjs';

const N = 10000, WIDTH = 100; // 100 layers of 100 steps; each needs the one above it in the previous layer

function yaml() {
  const lines = ['name: big', 'steps:'];
  for (let i = 0; i < N; i++)
    lines.push(i < WIDTH ? `  s${i}: {set: {n: ${i}}}` : `  s${i}: {needs: s${i - WIDTH}, set: {n: ${i}}}`);
  return lines.join('\n') + '\n';
}

export const tests = {
  async a_run_of_10000_steps_is_drawn_by_what_is_visible_and_stays_usable({ browser }) {
    const s = await new Server({ vera: 'viewer', olga: 'operator' }).start();
    try {
      const op = s.token('olga');
      await s.deploy(op, yaml());
      const run = await s.startRun(op, 'big');
      await s.waitRun(op, run.id, (r) => r.status === 'succeeded', 'the 10,000-step run', 300000);
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vera');
      await page.goto(`${s.base}/#/runs/${run.id}`);
      await page.waitForSelector('#graph[data-drawn]');
      const drawn = async () => Number(await page.getAttribute('#graph', 'data-drawn'));
      const first = await drawn();
      assert(first > 0 && first < 2000, `the first frame draws what is visible, not all ${N}: ${first}`);
      // the list: 200 buttons and "show more", not 10,000 buttons
      assert((await page.$$('#steplist button[data-step]')).length === 200, 'the step list pages');
      assert(await page.$('#more-steps'), 'show more');
      // zoom in with the keyboard: fewer nodes; pan: others
      await page.focus('#graph');
      for (let i = 0; i < 4; i++) await page.keyboard.press('+');
      await waitFor(async () => (await drawn()) < first, 'zoomed in draws fewer');
      const before = await page.evaluate(() => document.querySelector('#graph').weftGraph.ox);
      await page.keyboard.press('ArrowLeft');
      await waitFor(async () => (await page.evaluate(() => document.querySelector('#graph').weftGraph.ox)) !== before, 'panned');
      // find the last step through the filter and select it: the view centres on it
      await page.fill('#step-filter', 's9999');
      await page.click('#steplist button[data-step="s9999"]');
      await page.waitForFunction(() => document.querySelector('#panel-title')?.textContent === 'Step s9999');
      const centred = await page.evaluate(() => {
        const g = document.querySelector('#graph').weftGraph, n = g.byId.get('s9999');
        const r = document.querySelector('#graph').getBoundingClientRect();
        const x = g.ox + (n.x + 84) * g.scale, y = g.oy + (n.y + 15) * g.scale;
        return Math.abs(x - r.width / 2) < 2 && Math.abs(y - r.height / 2) < 2;
      });
      assert(centred, 'the selected step is in the middle of the view');
      await waitFor(async () => (await drawn()) > 0 && (await drawn()) < 2000, 'drawn around s9999');
      page.checkClean();
      await context.close();
    } finally {
      await s.stop();
    }
  },
};
