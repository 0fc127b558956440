// test_approvals.mjs — the approvals inbox in a real browser: a typed field
// checked before anything is sent, deciding with edited fields and a
// comment and the run continuing with them; a self-approval refused and
// explained in words; light and dark pass axe.
import { Server, openPage, axe, shot, assert, signIn, waitFor } from './lib.mjs';

const WF = `name: publish
inputs:
  version: {type: string, default: "1.0"}
steps:
  build:
    run: echo built
  ok:
    needs: [build]
    approval:
      message: "Publish \${{ .inputs.version }}?"
      approvers: [bob, alice]
      fields:
        notes: {type: string, default: "looks fine"}
        replicas: {type: integer, default: 2}
        canary: {type: boolean, default: true}
  ship:
    needs: [ok]
    run: echo "shipping $N"
    env: {N: "\${{ .steps.ok.outputs.fields.replicas }}"}
`;

async function withRun(fn) {
  const s = await new Server({ alice: 'operator', bob: 'viewer' }).start();
  try {
    const alice = s.token('alice');
    await s.deploy(alice, WF);
    const run = await s.startRun(alice, 'publish', { version: '2.5' });
    await s.waitRun(alice, run.id, (r) => r.steps.ok.status === 'waiting', 'the approval step waits');
    return await fn(s, alice, run);
  } finally {
    await s.stop();
  }
}

export const tests = {
  async deciding_an_approval_in_the_ui_continues_the_run({ browser }) {
    await withRun(async (s, alice, run) => {
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'bob');
      await page.goto(s.base + '/#/approvals');
      const card = `section.approval[data-run="${run.id}"]`;
      await page.waitForSelector(card);
      const text = await page.textContent(card);
      assert(text.includes('Publish 2.5?'), 'the message: ' + text);
      assert(text.includes('nobody has decided yet') && text.includes('bob, alice'), 'who has decided, who may: ' + text);
      // defaults filled, typed controls
      const f = (n) => `${card} [name="${n}"]`;
      assert(await page.inputValue(f('notes')) === 'looks fine', 'string default filled');
      assert(await page.inputValue(f('replicas')) === '2', 'integer default filled');
      assert(await page.isChecked(f('canary')), 'boolean default: a checked checkbox');
      await axe(page, 'approvals (light)');
      await shot(page, 'approvals');
      // a wrong type is caught in the browser: nothing is sent, the step still waits
      let posts = 0;
      page.on('request', (r) => { if (r.method() === 'POST') posts++; });
      await page.fill(f('replicas'), 'three');
      await page.click(`${card} button.approve`);
      await page.waitForSelector(`${card} [name="replicas"][aria-invalid="true"]`);
      const err = await page.textContent(`${card} .field-err:not(:empty)`);
      assert(/replicas: must be a whole number/.test(err), 'the field says what is wrong: ' + err);
      assert(posts === 0, 'nothing was sent');
      await shot(page, 'approvals-invalid');
      // keyboard: fix the field, type a comment, untick the checkbox, approve with Enter
      await page.fill(f('replicas'), '5');
      await page.focus(f('canary'));
      await page.keyboard.press('Space');
      await page.fill(`${card} textarea[name="comment"]`, 'ship it');
      await page.focus(`${card} button.approve`);
      await page.keyboard.press('Enter');
      await page.waitForSelector(`${card} .result .ok`);
      assert((await page.textContent(`${card} .result`)).includes('The run continues'), 'said it continues');
      await axe(page, 'approvals after deciding');
      // the run continues with the edited fields
      const done = await s.waitRun(alice, run.id, (r) => r.status === 'succeeded', 'the run finishes');
      const out = done.steps.ok.outputs;
      assert(out.decision === 'approved' && out.by.includes('bob'), 'approved by bob: ' + JSON.stringify(out));
      assert(out.fields.replicas === 5 && out.fields.canary === false && out.fields.notes === 'looks fine',
        'the edited, typed fields reached the step: ' + JSON.stringify(out.fields));
      assert(out.comment === 'ship it', 'the comment: ' + out.comment);
      assert(done.steps.ship.status === 'succeeded', 'the step after the approval ran');
      page.checkClean();
      await context.close();
      // dark mode, an empty inbox now
      const dark = await openPage(browser, s, { colorScheme: 'dark' });
      await signIn(dark.page, s, 'bob');
      await dark.page.goto(s.base + '/#/approvals');
      await dark.page.waitForSelector('#approvals .empty');
      await axe(dark.page, 'approvals (dark, empty)');
      dark.page.checkClean();
      await dark.context.close();
    });
  },

  async a_self_approval_is_refused_and_explained({ browser }) {
    await withRun(async (s, alice, run) => {
      const { context, page } = await openPage(browser, s, { allow: [/status of 403/] });
      await signIn(page, s, 'alice');
      await page.goto(s.base + '/#/approvals');
      const card = `section.approval[data-run="${run.id}"]`;
      await page.waitForSelector(card);
      await page.fill(`${card} textarea[name="comment"]`, 'my own');
      await page.click(`${card} button.approve`);
      await page.waitForSelector(`${card} .refusal`);
      const why = await page.textContent(`${card} .refusal`);
      assert(why.includes('You started this run, so you may not approve it'), 'in words: ' + why);
      assert(why.includes('separation of duties'), 'the reason: ' + why);
      assert(!(await page.isDisabled(`${card} button.approve`)), 'the buttons work again');
      await axe(page, 'approvals with a refusal');
      await shot(page, 'approvals-refused');
      const r = await s.call(alice, 'GET', '/runs/' + run.id);
      assert(r.body.steps.ok.status === 'waiting', 'the step still waits');
      page.checkClean();
      await context.close();
    });
  },

  async an_approval_that_arrives_while_the_inbox_is_open_appears({ browser }) {
    await withRun(async (s, alice) => {
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'bob');
      await page.goto(s.base + '/#/approvals');
      await page.waitForSelector('section.approval');
      await page.waitForSelector('#live:text("Live")');
      const second = await s.startRun(alice, 'publish', { version: '3.0' });
      await waitFor(async () => (await page.$(`section.approval[data-run="${second.id}"]`)) !== null, 'the new approval appears');
      assert((await page.$$('section.approval')).length === 2, 'both approvals listed');
      page.checkClean();
      await context.close();
    });
  },
};
