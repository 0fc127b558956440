// test_workflows.mjs — the workflows page in a real browser: the list, the
// highlighted source, the line diff between two versions (and ?version=N
// over the API), the triggers with their next fire times, and the start-run
// form generated from `inputs:` (typed, defaults filled, a wrong type caught
// before sending) starting a run and going to it. A viewer gets no form.
import { Server, openPage, axe, shot, assert, signIn } from './lib.mjs';

const V1 = `name: train
description: Retrain the ranking model
inputs:
  dataset: {type: string, default: data/latest.csv, description: source file}
  epochs: {type: integer, default: 3}
  rate: {type: number, default: 0.5}
  dry_run: {type: boolean, default: false}
  tags: {type: array, default: [a]}
  owner: {type: string, required: true}
triggers:
  - schedule: "0 3 * * *"
  - webhook: retrain
steps:
  fetch:
    run: echo "fetching $DATASET"   # a comment
    env: {DATASET: "\${{ .inputs.dataset }}"}
  train:
    needs: [fetch]
    run: echo training
`;
const V2 = V1.replace('    run: echo training\n', '    run: echo training harder\n    timeout: 2h\n');

async function withServer(fn) {
  const s = await new Server({ olga: 'operator', vic: 'viewer' }).start();
  try {
    const t = s.token('olga');
    await s.deploy(t, V1);
    await s.deploy(t, V2);
    return await fn(s, t);
  } finally {
    await s.stop();
  }
}

export const tests = {
  async source_versions_diff_and_triggers({ browser }) {
    await withServer(async (s, t) => {
      // the API: each version's own source
      const v1 = await s.call(t, 'GET', '/workflows/train?version=1');
      assert(v1.status === 200 && v1.body.source === V1, 'version 1 over the API');
      const v9 = await s.call(t, 'GET', '/workflows/train?version=9');
      assert(v9.status === 404 && /no version 9/.test(v9.body.error.message), 'a missing version: ' + JSON.stringify(v9.body));
      const bad = await s.call(t, 'GET', '/workflows/train?version=x');
      assert(bad.status === 400, 'a bad version: ' + bad.status);

      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vic');
      await page.goto(s.base + '/#/workflows');
      await page.waitForSelector('#workflows a:text("train")');
      await axe(page, 'workflows list');
      await page.click('#workflows a:text("train")');
      await page.waitForSelector('#source .y-key');
      // highlighting: keys, strings, comments, expressions
      const keys = await page.$$eval('#source .y-key', (els) => els.map((e) => e.textContent));
      for (const k of ['name', 'inputs', 'dataset', 'type', 'steps', 'timeout']) assert(keys.includes(k), 'key highlighted: ' + k);
      assert(await page.textContent('#source .y-com') === '# a comment', 'the comment');
      assert((await page.textContent('#source .y-expr')).includes('${{ .inputs.dataset }}'), 'the expression');
      assert(await page.textContent('#source') === V2.replace(/\n$/, '') + '\n', 'the whole source, as deployed');
      // the diff of the two versions (version 1 -> 2 by default)
      await page.waitForSelector('#diff');
      const summary = await page.textContent('#diff-summary');
      assert(summary === '2 lines added, 1 removed.', 'diff summary: ' + summary);
      const rows = await page.$$eval('#diff tbody tr', (trs) => trs.map((r) => [r.className, r.lastChild.textContent]));
      const del = rows.filter((r) => r[0] === 'd-del').map((r) => r[1]);
      const add = rows.filter((r) => r[0] === 'd-add').map((r) => r[1]);
      assert(del.length === 1 && del[0].includes('run: echo training') && !del[0].includes('harder'), 'removed: ' + JSON.stringify(del));
      assert(add.length === 2 && add[0].includes('echo training harder') && add[1].includes('timeout: 2h'), 'added: ' + JSON.stringify(add));
      // triggers with next fire times
      const trig = await page.textContent('#triggers');
      assert(trig.includes('0 3 * * *') && trig.includes('Next:') && trig.includes('/api/v1/hooks/retrain'), 'triggers: ' + trig);
      assert(await page.$$eval('#triggers li:first-child time', (ts) => ts.length) === 5, 'five next fire times');
      const fires = await page.$$eval('#triggers time', (ts) => ts.map((x) => x.getAttribute('datetime')));
      assert(fires[0].includes('T03:00:00'), 'the next fire at 03:00 UTC: ' + fires[0]);
      // a viewer is not offered the start form
      assert(await page.$('#start-form') === null, 'no start form for a viewer');
      await axe(page, 'workflow page (light)');
      await shot(page, 'workflow');
      // the older version's source, chosen from the list; the diff reversed by the form
      await page.selectOption('#src-version', '1');
      await page.waitForSelector('#source[aria-label="source of version 1"]');
      assert(await page.textContent('#source') === V1, 'version 1 shown');
      await page.selectOption('#diff-from', '2');
      await page.selectOption('#diff-to', '1');
      await page.click('#diff-form button');
      await page.waitForFunction(() => document.querySelector('#diff-summary') && document.querySelector('#diff-summary').textContent === '1 line added, 2 removed.');
      await page.locator('#diff').scrollIntoViewIfNeeded();
      await shot(page, 'workflow-diff');
      page.checkClean();
      await context.close();
      const dark = await openPage(browser, s, { colorScheme: 'dark' });
      await signIn(dark.page, s, 'vic');
      await dark.page.goto(s.base + '/#/workflows/train');
      await dark.page.waitForSelector('#diff');
      await axe(dark.page, 'workflow page (dark)');
      dark.page.checkClean();
      await dark.context.close();
    });
  },

  async the_start_form_checks_types_and_starts_a_run({ browser }) {
    await withServer(async (s, t) => {
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'olga');
      await page.goto(s.base + '/#/workflows/train');
      await page.waitForSelector('#start-form');
      assert(await page.inputValue('#in-dataset') === 'data/latest.csv', 'string default');
      assert(await page.inputValue('#in-epochs') === '3', 'integer default');
      assert(await page.inputValue('#in-rate') === '0.5', 'number default');
      assert(!(await page.isChecked('#in-dry_run')), 'boolean default');
      assert(JSON.parse(await page.inputValue('#in-tags'))[0] === 'a', 'array default as JSON');
      let posts = 0;
      page.on('request', (r) => { if (r.method() === 'POST') posts++; });
      // wrong types and a missing required input are caught before sending
      await page.fill('#in-epochs', '3.5');
      await page.fill('#in-tags', '{"a": 1}');
      await page.click('#start');
      await page.waitForSelector('#in-epochs[aria-invalid="true"]');
      const errs = await page.$$eval('#start-form .field-err', (es) => es.map((e) => e.textContent).filter(Boolean));
      assert(errs.some((e) => /epochs: must be a whole number/.test(e)), 'epochs: ' + errs);
      assert(errs.some((e) => /tags: must be a JSON array/.test(e)), 'tags: ' + errs);
      assert(errs.some((e) => /owner: required/.test(e)), 'owner: ' + errs);
      assert(await page.evaluate(() => document.activeElement.id) === 'in-epochs', 'focus on the first field in error');
      assert(posts === 0, 'nothing was sent');
      await axe(page, 'start form with errors');
      await shot(page, 'workflow-start-invalid');
      await page.fill('#in-epochs', '12');
      await page.fill('#in-tags', '["x", "y"]');
      await page.fill('#in-owner', 'olga');
      await page.focus('#in-dry_run');
      await page.keyboard.press('Space'); // the keyboard: tick the checkbox, Enter in a field starts
      await page.focus('#in-owner');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /^#\/runs\/[0-9A-Z]{26}$/.test(location.hash));
      const id = await page.evaluate(() => location.hash.slice('#/runs/'.length));
      const r = await s.call(t, 'GET', '/runs/' + id);
      assert(r.status === 200, 'the run exists');
      const inputs = r.body.inputs;
      assert(inputs.epochs === 12 && inputs.rate === 0.5 && inputs.dry_run === true && inputs.owner === 'olga' &&
        inputs.tags.join() === 'x,y' && inputs.dataset === 'data/latest.csv', 'typed inputs: ' + JSON.stringify(inputs));
      assert(r.body.trigger === 'api' && r.body.started_by === 'olga', 'started through the API by olga');
      page.checkClean();
      await context.close();
    });
  },
};
