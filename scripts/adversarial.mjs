// `npm run test:adversarial`: the adversarial suite at full size (issue 8). Today that is the
// fuzzer (test/fuzz) at ATM_FUZZ_CASES (default 100,000) cases; it prints a closing table per
// run and keeps it in test-results/fuzz/summary.md. Set ATM_FUZZ_SEED for another seed.
import { spawnSync } from 'node:child_process';
import { checkNode, ensureDependencies, log, root } from './lib/setup.mjs';

const FULL_SIZE = '100000';

checkNode();
ensureDependencies();

const suites = [
  {
    name: 'fuzzing',
    args: ['vitest', 'run', '--project', 'fuzz'],
    env: { ATM_FUZZ_CASES: process.env.ATM_FUZZ_CASES || FULL_SIZE },
  },
];

const failed = [];
for (const suite of suites) {
  log(`running ${suite.name}`);
  const started = Date.now();
  const run = spawnSync('npx', suite.args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...suite.env } });
  log(`${suite.name}: ${run.status === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (run.status !== 0) failed.push(suite.name);
}
process.exit(failed.length ? 1 : 0);
