import { join } from 'node:path';

/**
 * How many cases each target gets. `ATM_FUZZ_CASES` is the total for the run, shared out by
 * the weights below (cheap targets get more cases than ones that run MLS or IndexedDB per case);
 * `npm test` runs the default, `npm run test:adversarial` at least 100,000.
 *
 *   ATM_FUZZ_SEED    the run's seed (default 1); every case's input follows from (seed, target, index)
 *   ATM_FUZZ_TARGET  with ATM_FUZZ_CASE: run only that case of that target (replay)
 */
export const DEFAULT_TOTAL_CASES = 25_000;

export const WEIGHTS: Record<string, number> = {
  'records.event': 6,
  'records.device': 6,
  'records.keyPackage': 6,
  'repos.listRecords': 5,
  padding: 6,
  tags: 4,
  'envelope.outer': 6,
  'envelope.inner': 6,
  'invite.outer': 4,
  'invite.inner': 4,
  content: 8,
  'mls.application': 5,
  'mls.commit': 5,
  'mls.welcome': 3,
  'mls.keyPackage': 4,
  'keyPackage.directory': 2,
  'car.proof': 6,
  'identity.didDocument': 4,
  firehose: 4,
  'as.verify': 4,
  'rpc.dispatch': 6,
  'rpc.parse': 6,
  'rpc.port': 3,
  'engine.record': 3,
  'engine.envelope': 3,
  'engine.mls': 3,
  'engine.content': 2,
  'engine.invite': 2,
};

export const STATS_DIR = join(process.cwd(), 'test-results', 'fuzz');

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

export function fuzzSeed(): number {
  return envInt('ATM_FUZZ_SEED') ?? 1;
}

export function totalCases(): number {
  return envInt('ATM_FUZZ_CASES') ?? DEFAULT_TOTAL_CASES;
}

export function casesFor(target: string): number {
  const weight = WEIGHTS[target];
  if (weight === undefined) throw new Error(`fuzz target ${target} has no weight in test/fuzz/lib/budget.ts`);
  const only = process.env.ATM_FUZZ_TARGET;
  if (only && only !== target) return 0;
  const sum = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  return Math.max(1, Math.round((totalCases() * weight) / sum));
}

/** The case index to replay for this target, when ATM_FUZZ_TARGET names it and ATM_FUZZ_CASE is set. */
export function replayCase(target: string): number | undefined {
  const index = envInt('ATM_FUZZ_CASE');
  if (index === undefined) return undefined;
  return process.env.ATM_FUZZ_TARGET === target ? index : undefined;
}
