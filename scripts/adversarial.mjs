// `npm run test:adversarial`: the adversarial suite at full size: the fuzzer
// (test/fuzz) at ATM_FUZZ_CASES (default 100,000) cases, with its closing table kept in
// test-results/fuzz/summary.md (ATM_FUZZ_SEED for another seed); then the fault-injection matrix
// and the load test at their larger sizes, each printing its table; then the OpenMLS interop suite
// (test/unit/mls/interop) over ATM_INTEROP_SEEDS (default 50) seeds.
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
  {
    // The fault matrix at full size, and the load test at full size: 50 members x 3
    // devices with 1,000 messages (about an hour on 2 cores; ATM_LOAD_MEMBERS for another size).
    name: 'fault injection and load',
    args: ['vitest', 'run', '--project', 'integration', 'test/integration/fault-matrix.test.ts', 'test/integration/load.test.ts'],
    env: { ATM_ADVERSARIAL: '1' },
  },
  {
    // Mixed groups of src/mls and OpenMLS (core-crypto 9.3.4) members: 200 epochs per seed,
    // about 15-35 s a seed on 2 cores (about 20 minutes for 50). npm test runs 3 seeds.
    name: 'OpenMLS interop',
    args: ['vitest', 'run', '--project', 'unit', 'test/unit/mls/interop'],
    env: { ATM_INTEROP_SEEDS: process.env.ATM_INTEROP_SEEDS || '50' },
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
