// test_audit.mjs — the audit page in a real browser: verifying an intact
// chain, downloading a run's evidence pack (the file is the server's pack,
// byte for byte), and a chain broken on purpose (an entry edited in the
// store behind the server's back) shown with its first broken entry.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Server, openPage, axe, shot, assert, signIn } from './lib.mjs';

const WF = `name: tiny
steps:
  a:
    run: echo hello
`;

async function withRun(fn) {
  const s = await new Server({ vic: 'viewer', olga: 'operator' }).start();
  try {
    const t = s.token('olga');
    await s.deploy(t, WF);
    const run = await s.startRun(t, 'tiny');
    await s.waitRun(t, run.id, (r) => r.status === 'succeeded', 'the run ends');
    return await fn(s, t, run);
  } finally {
    await s.stop();
  }
}

export const tests = {
  async verify_the_chain_and_download_an_evidence_pack({ browser }) {
    await withRun(async (s, t, run) => {
      const { context, page } = await openPage(browser, s);
      await signIn(page, s, 'vic');
      await page.goto(s.base + '/#/audit');
      await page.waitForSelector('#verify');
      await axe(page, 'audit page');
      await page.click('#verify');
      await page.waitForSelector('#verify-ok');
      const ok = await page.textContent('#verify-ok');
      const api = (await s.call(t, 'GET', '/audit/verify')).body;
      assert(api.ok && ok.includes(`The chain holds: ${api.entries} entries verified`), 'verified: ' + ok);
      // the evidence pack: a prefix of the run id is enough
      await page.fill('#ev-run', run.id.slice(0, 12));
      await page.focus('#ev-run');
      const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
      assert(download.suggestedFilename() === `evidence-${run.id}.json`, 'file name: ' + download.suggestedFilename());
      const file = fs.readFileSync(await download.path(), 'utf8');
      const want = await s.call(t, 'GET', `/runs/${run.id}/evidence`);
      const pack = JSON.parse(file);
      assert(pack.format === 'weft-evidence-1' && pack.run.id === run.id, 'the pack of the run');
      assert(pack.definition.source === WF && pack.audit.length > 0 && pack.chain.ok === true, 'its definition, entries and chain proof');
      assert(JSON.stringify(pack.audit) === JSON.stringify(want.body.audit), 'the same audit entries as the API gives');
      await page.waitForSelector('#ev-link');
      await axe(page, 'audit page after verify and download');
      await shot(page, 'audit');
      page.checkClean();
      await context.close();
    });
  },

  async an_unknown_run_and_a_broken_chain_are_said_in_words({ browser }) {
    await withRun(async (s, t, run) => {
      const { context, page } = await openPage(browser, s, { allow: [/status of 404/], colorScheme: 'dark' });
      await signIn(page, s, 'vic');
      await page.goto(s.base + '/#/audit?run=NOSUCHRUN');
      await page.waitForSelector('#ev-run');
      assert(await page.inputValue('#ev-run') === 'NOSUCHRUN', 'run= from the address');
      await page.click('#ev-download');
      await page.waitForSelector('#ev-out .error');
      const err = await page.textContent('#ev-out .error');
      assert(err.startsWith('No evidence pack: not found'), 'said: ' + err);
      // break the chain: edit the data of one entry of the run behind the server's back
      const db = path.join(s.home, 'weft.db');
      const seq = Number(execFileSync('python3', ['-c', `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
seq = c.execute("select min(seq) from audit where run_id = ? and kind = 'run.status'", (sys.argv[2],)).fetchone()[0]
c.execute("update audit set data = '{\\"status\\":\\"tampered\\"}' where seq = ?", (seq,))
c.commit()
print(seq)
`, db, run.id], { encoding: 'utf8' }).trim());
      const api = (await s.call(t, 'GET', '/audit/verify')).body;
      assert(api.ok === false && api.first_bad === seq, 'the API sees it: ' + JSON.stringify(api));
      await page.click('#verify');
      await page.waitForSelector('#verify-bad');
      const bad = await page.textContent('#verify-bad');
      assert(bad.includes(`The chain is broken at entry ${seq}`), 'said: ' + bad);
      await page.waitForSelector('#bad-entry');
      const entry = JSON.parse(await page.textContent('#bad-entry'));
      assert(entry.seq === seq && entry.run === run.id && entry.data.status === 'tampered', 'the broken entry shown: ' + JSON.stringify(entry));
      await axe(page, 'audit page with a broken chain (dark)');
      await shot(page, 'audit-broken');
      page.checkClean();
      await context.close();
    });
  },
};
