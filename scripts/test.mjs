// `npm test`: set up the machine, build, then run unit, fuzz (reduced size), integration and e2e tests and print one
// total line `N passed, N failed` (CI reads it).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  buildExtension,
  checkNode,
  ensureBrowsers,
  ensureDependencies,
  log,
  root,
} from './lib/setup.mjs';

const levels = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'fuzz', 'build', 'integration', 'e2e'];

checkNode();
ensureDependencies();
if (levels.includes('e2e')) ensureBrowsers();
buildExtension();

const results = join(root, 'test-results');
mkdirSync(results, { recursive: true });

let passed = 0;
let failed = 0;
const broken = [];
for (const level of levels) {
  log(`running ${level} tests`);
  const report = join(results, `${level}.json`);
  rmSync(report, { force: true });
  const run = spawnSync(
    'npx',
    ['vitest', 'run', '--project', level, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    // e2e tests the very packages built (and zipped) above.
    { cwd: root, stdio: 'inherit', env: { ...process.env, ATM_E2E_NO_BUILD: '1' } },
  );
  let summary;
  try {
    summary = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    summary = undefined;
  }
  if (!summary) {
    broken.push(`${level} (no report, exit ${run.status})`);
    continue;
  }
  passed += summary.numPassedTests;
  failed += summary.numFailedTests;
  if (run.status !== 0) {
    broken.push(`${level} (exit ${run.status})`);
  }
  if (summary.numTotalTests === 0) broken.push(`${level} (ran no tests)`);
}

if (broken.length) log(`failed levels: ${broken.join(', ')}`);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(broken.length || failed ? 1 : 0);
