// run.mjs — runs every tests/ui/test_*.mjs (ctest: ui/test_ui; or
// `node tests/ui/run.mjs [NAME-FILTER]`). Each test file exports
//   export const tests = {name: async ({browser}) => {...}, ...}
// and each test starts its own server. Exits 77 (ctest: skipped) when
// chromium is not installed, saying so; 1 when a test fails.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, BIN } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: the browser tests need Debian chromium at ${CHROMIUM} (apt-get install chromium; scripts/setup.sh installs it)`);
  process.exit(77);
}
if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
  console.error(`weft: tests/ui/node_modules is missing: run \`npm ci\` in ${here} (scripts/test.sh does)`);
  process.exit(1);
}
if (!fs.existsSync(BIN)) {
  console.error(`weft: no weft binary at ${BIN}: build it first, or set WEFT_BIN`);
  process.exit(1);
}

const { loadPlaywright } = await import('./lib.mjs');
const { chromium } = loadPlaywright();
const filter = process.argv[2] || '';
const files = fs.readdirSync(here).filter((f) => /^test_.*\.mjs$/.test(f)).sort();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
let failed = 0, passed = 0;
try {
  for (const f of files) {
    const mod = await import(path.join(here, f));
    for (const [name, fn] of Object.entries(mod.tests)) {
      const full = `${f.replace(/\.mjs$/, '')}::${name}`;
      if (filter && !full.includes(filter)) continue;
      const t0 = Date.now();
      try {
        await fn({ browser });
        passed++;
        console.log(`ok   ${full} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${full}\n${e && e.stack ? e.stack : e}`);
      }
    }
  }
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : passed ? 0 : 1);
