// test_run.mjs — the run page: the live graph changes colour as steps
// finish (the canvas's own pixels), the log streams while a step runs,
// retry-from-step from the UI, for_each counts and drill-down, retries in
// the timeline, parent and child links, and a viewer who sees no operator
// button and whom the API refuses anyway. Steps wait on files the test
// creates, never on time.
import fs from 'node:fs';
import path from 'node:path';
import { Server, openPage, axe, shot, assert, signIn, waitFor } from './lib.mjs';

// the colour of node `step` on the canvas, and the colour its status should have
async function nodeColour(page, step) {
  return page.evaluate((id) => {
    const c = document.querySelector('#graph');
    const g = c.weftGraph;
    const n = g.byId.get(id);
    const dpr = window.devicePixelRatio || 1;
    const x = Math.round((g.ox + (n.x + 3) * g.scale) * dpr), y = Math.round((g.oy + (n.y + 3) * g.scale) * dpr);
    const [r, gr, b] = c.getContext('2d').getImageData(x, y, 1, 1).data;
    const probe = document.createElement('span');
    probe.className = 'badge st-' + n.status;
    document.body.append(probe);
    const want = getComputedStyle(probe).backgroundColor;
    probe.remove();
    return { status: n.status, got: `rgb(${r}, ${gr}, ${b})`, want };
  }, step);
}

async function waitColour(page, step, status) {
  return waitFor(async () => {
    const c = await nodeColour(page, step);
    return c.status === status && c.got === c.want ? c : null;
  }, `node ${step} drawn as ${status}`);
}

// the element sel has text somewhere in it
async function hasText(page, sel, text) {
  try {
    await page.waitForFunction(([q, t]) => (document.querySelector(q)?.textContent || '').includes(t), [sel, text]);
  } catch (e) {
    const now = await page.evaluate((q) => document.querySelector(q)?.textContent, sel);
    throw new Error(`${sel} never had "${text}"; it has ${JSON.stringify(now)}`);
  }
}

// the step panel shows this step (its title says "Step NAME")
async function panelShows(page, step) {
  await page.waitForFunction((t) => document.querySelector('#panel-title')?.textContent === 'Step ' + t, step);
}

async function withServer(fn) {
  const s = await new Server({ vera: 'viewer', olga: 'operator' }).start();
  try { return await fn(s, s.token('olga')); } finally { await s.stop(); }
}

export const tests = {
  async the_live_graph_changes_colour_as_steps_finish_and_the_log_streams({ browser }) {
    await withServer(async (s, op) => {
      const gate = path.join(s.tmp, 'gate');
      await s.deploy(op, `name: gated
steps:
  prepare: {run: 'echo ready'}
  gate:
    needs: prepare
    run: |
      echo waiting-line
      while [ ! -f ${gate} ]; do sleep 0.05; done
      echo done-line
  after: {needs: gate, run: 'echo after'}
`);
      const run = await s.startRun(op, 'gated');
      await s.waitRun(op, run.id, (r) => r.steps.gate.status === 'running', 'gate running');
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'olga');
      await page.goto(`${s.base}/#/runs/${run.id}`);
      await page.waitForSelector('#graph[data-drawn="3"]');
      await waitColour(page, 'prepare', 'succeeded');
      const running = await waitColour(page, 'gate', 'running');
      await waitColour(page, 'after', 'pending');
      // the step panel streams the running step's log
      await page.click('#steplist button[data-step="gate"]');
      await page.waitForSelector('#log-state:text("Streaming")');
      await page.waitForFunction(() => document.querySelector('#log').textContent.includes('waiting-line'));
      await page.waitForSelector('#cancel'); // an operator, a running run
      await axe(page, 'run page (running)');
      await shot(page, 'run-running');
      fs.writeFileSync(gate, '');
      const done = await waitColour(page, 'gate', 'succeeded');
      assert(done.got !== running.got, 'the colour changed: ' + JSON.stringify([running, done]));
      await waitColour(page, 'after', 'succeeded');
      await page.waitForFunction(() => document.querySelector('#log').textContent.includes('done-line'));
      await page.waitForSelector('#run-status .badge:text("succeeded")');
      assert(!(await page.$('#cancel')), 'no cancel button once the run ended');
      // the keyboard: the canvas is focusable and the step list is buttons
      await page.focus('#graph');
      await page.keyboard.press('0');
      await page.keyboard.press('ArrowDown');
      await page.focus('#steplist button[data-step="after"]');
      await page.keyboard.press('Enter');
      await panelShows(page, 'after');
      page.checkClean();
      await context.close();
    });
  },

  async retry_from_step_in_the_ui({ browser }) {
    await withServer(async (s, op) => {
      const flag = path.join(s.tmp, 'flag');
      await s.deploy(op, `name: flaky
steps:
  one: {run: 'echo one'}
  two: {needs: one, run: 'test -f ${flag} && echo two-ok'}
  three: {needs: two, run: 'echo three'}
`);
      const run = await s.startRun(op, 'flaky');
      await s.waitRun(op, run.id, (r) => r.status === 'failed');
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'olga');
      await page.goto(`${s.base}/#/runs/${run.id}?step=two`);
      await panelShows(page, 'two');
      await waitColour(page, 'two', 'failed');
      await page.waitForSelector('#retry'); // the run-level retry too
      await axe(page, 'run page (failed)');
      await shot(page, 'run-failed', { fullPage: true });
      // the step's definition, as this run used it
      await page.click('#show-def');
      await hasText(page, '#def-text', `test -f ${flag}`);
      assert(!(await page.textContent('#def-text')).includes('echo three'), 'only the step two block');
      fs.writeFileSync(flag, '');
      await page.click('#retry-from');
      await hasText(page, '#run-msg', 'Retry started from two');
      await page.waitForSelector('#run-status .badge:text("succeeded")');
      await waitColour(page, 'three', 'succeeded');
      const after = await s.call(op, 'GET', '/runs/' + run.id);
      assert(after.body.status === 'succeeded' && after.body.steps.two.status === 'succeeded', JSON.stringify(after.body));
      const audit = await s.call(op, 'GET', '/audit?run=' + run.id);
      assert(/"kind":"retry.requested"[^\n]*"from":"two"/.test(audit.body) || /retry.requested/.test(audit.body), 'the retry is audited');
      page.checkClean();
      await context.close();
    });
  },

  async an_operator_cancels_a_running_run_retries_it_and_sees_its_inputs({ browser }) {
    await withServer(async (s, op) => {
      const gate = path.join(s.tmp, 'never');
      await s.deploy(op, `name: slow
inputs:
  who: {type: string}
steps:
  hold: {run: 'echo holding; while [ ! -f ${gate} ]; do sleep 0.05; done'}
`);
      const run = await s.startRun(op, 'slow', { who: 'ada' });
      await s.waitRun(op, run.id, (r) => r.steps.hold.status === 'running');
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'olga');
      await page.goto(`${s.base}/#/runs/${run.id}`);
      await page.click('#run-io summary');
      await hasText(page, '#run-inputs', '"who": "ada"');
      await page.click('#cancel');
      await hasText(page, '#run-msg', 'Cancel requested');
      await page.waitForSelector('#run-status .badge:text("cancelled")');
      await waitColour(page, 'hold', 'cancelled');
      assert(!(await page.$('#cancel')), 'no cancel button once cancelled');
      assert((await s.call(op, 'GET', '/runs/' + run.id)).body.status === 'cancelled', 'cancelled in the store');
      // a cancelled run can be retried: it runs again, and finishes once the gate opens
      await page.click('#retry');
      await hasText(page, '#run-msg', 'Retry started');
      await page.waitForSelector('#run-status .badge:text("running")');
      await waitColour(page, 'hold', 'running');
      await page.waitForSelector('#cancel');
      fs.writeFileSync(gate, '');
      await page.waitForSelector('#run-status .badge:text("succeeded")');
      await waitColour(page, 'hold', 'succeeded');
      page.checkClean();
      await context.close();
    });
  },

  async a_viewer_sees_no_operator_buttons_and_the_api_refuses_anyway({ browser }) {
    await withServer(async (s, op) => {
      await s.deploy(op, 'name: bad\nsteps:\n  a: {run: "echo no; exit 1"}\n');
      const run = await s.startRun(op, 'bad');
      await s.waitRun(op, run.id, (r) => r.status === 'failed');
      const { context, page } = await openPage(browser, s, { colorScheme: 'dark' });
      await signIn(page, s, 'vera');
      await page.goto(`${s.base}/#/runs/${run.id}?step=a`);
      await panelShows(page, 'a');
      await page.waitForSelector('#run-status .badge:text("failed")');
      await hasText(page, '#log', 'no');
      await axe(page, 'run page (dark, viewer)');
      await shot(page, 'run-dark');
      for (const sel of ['#retry', '#retry-from', '#cancel'])
        assert(!(await page.$(sel)), 'a viewer sees no ' + sel);
      // hiding is not security: the viewer's own token is refused
      const token = await page.evaluate(() => sessionStorage.getItem('weft.token'));
      for (const [p, body] of [['/retry', {}], ['/retry', { from: 'a' }], ['/cancel', {}]]) {
        const r = await s.call(token, 'POST', `/runs/${run.id}${p}`, body);
        assert(r.status === 403 && /operator/.test(r.body.error.message), p + ': ' + JSON.stringify(r));
      }
      assert((await s.call(op, 'GET', '/runs/' + run.id)).body.status === 'failed', 'nothing changed');
      page.checkClean();
      await context.close();
    });
  },

  async for_each_counts_drill_down_retries_in_the_timeline_and_child_links({ browser }) {
    await withServer(async (s, op) => {
      fs.writeFileSync(path.join(s.tmp, 'child.yaml'), 'name: child\nsteps:\n  c1: {run: "echo in-child"}\n');
      await s.deploy(op, 'name: child\nsteps:\n  c1: {run: "echo in-child"}\n');
      await s.deploy(op, `name: fan
steps:
  each:
    for_each: [red, green, blue]
    env: {ITEM: '\${{ .item }}'}
    run: 'echo "item $ITEM"'
  shaky:
    retry: {attempts: 2, delay: 0s}
    run: 'echo try; exit 1'
  sub:
    workflow: {name: child}
`);
      const run = await s.startRun(op, 'fan');
      const done = await s.waitRun(op, run.id, (r) => r.status === 'failed');
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'olga');
      await page.goto(`${s.base}/#/runs/${run.id}?step=each`);
      await hasText(page, '#instance-counts', 'succeeded');
      assert((await page.textContent('#instance-counts')).includes('3'), 'three succeeded');
      await page.click('#instances a[data-index="1"]');
      await panelShows(page, 'each');
      await page.waitForFunction(() => document.querySelector('#log') && document.querySelector('#log').textContent.includes('item green'));
      // the timeline: shaky has two attempts, the second outlined as a retry
      await page.waitForSelector('#gantt .g[data-lane="shaky"] .bar.retry');
      assert((await page.$$('#gantt .g[data-lane="shaky"] .bar')).length === 2, 'two bars for two attempts');
      assert(await page.$('#gantt .g[data-lane="each[2]"]'), 'a lane per instance');
      // the child run, and back to its parent
      const kid = (done.children || [])[0];
      assert(kid, 'the run has a child: ' + JSON.stringify(done));
      await page.click(`#children a[href="#/runs/${kid.id}"]`);
      await hasText(page, 'h1', kid.id);
      await page.click('#parent');
      await hasText(page, 'h1', run.id);
      await page.goto(`${s.base}/#/runs/${run.id}?step=each&index=1`);
      await page.waitForFunction(() => document.querySelector('#log') && document.querySelector('#log').textContent.includes('item green'));
      await axe(page, 'run page (for_each)');
      await shot(page, 'run-foreach', { fullPage: true });
      page.checkClean();
      await context.close();
    });
  },
};
