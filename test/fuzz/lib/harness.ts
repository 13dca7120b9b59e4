import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AtmError } from '../../../src/errors';
import { caseRng, type Rng } from './prng';
import { casesFor, fuzzSeed, replayCase, STATS_DIR } from './budget';

/**
 * Runs one fuzz target: for every case a fresh generator (seed, target, index) builds an input,
 * the code under test runs on it, and the case must end in
 *  - a typed rejection: an `AtmError` whose code the target allows, or a typed "no" the code
 *    under test returns as data (e.g. an RPC error response), also from the allowed list; or
 *  - an accepted result that the target checked is correct (e.g. it round-trips).
 * Anything else fails: an untyped exception (TypeError, RangeError, ...), an unhandled
 * rejection, a case that outlives the time guard, a typed error with a code the target does not
 * list, or a wrong result (`OracleFailure`: a changed state after a rejection, an accepted
 * input that does not round-trip).
 */
export type Verdict = { accepted: true } | { rejected: string };

export const ACCEPTED: Verdict = { accepted: true };

export function rejected(code: string): Verdict {
  return { rejected: code };
}

/** A wrong result found by a target's own checks (never thrown by the code under test). */
export class OracleFailure extends Error {
  override readonly name = 'OracleFailure';
}

export function fail(message: string): never {
  throw new OracleFailure(message);
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new OracleFailure(message);
}

export interface FuzzTarget<I> {
  /** Stable name: part of every case's seed, and the row of the closing table. */
  name: string;
  /** Every code a rejection may carry (AtmError codes, or the typed "no" results the target returns). */
  allowed: readonly string[];
  generate(rng: Rng, index: number): I | Promise<I>;
  /** Runs the code under test on one input; throws the code under test's error on rejection. */
  run(input: I, index: number): Promise<Verdict>;
  /** A short description of the input for failure reports (the mutations applied). */
  describe?(input: I): string;
}

export interface TargetStats {
  target: string;
  seed: number;
  cases: number;
  rejected: number;
  accepted: number;
  /** Untyped exceptions, unhandled rejections, unlisted codes. */
  crashes: number;
  hangs: number;
  /** Wrong results (state changed on rejection, accepted input that does not round-trip). */
  wrong: number;
  codes: Record<string, number>;
  ms: number;
}

interface FailureReport {
  index: number;
  kind: 'crash' | 'hang' | 'wrong';
  detail: string;
  input: string;
}

const CASE_TIMEOUT_MS = Number(process.env.ATM_FUZZ_CASE_TIMEOUT_MS ?? 30_000);
const MAX_REPORTED = 5;

class Hang extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hang(`no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const stack = (error.stack ?? '').split('\n').slice(1, 6).join('\n');
    return `${error.name}: ${error.message.slice(0, 300)}\n${stack}`;
  }
  return `non-Error thrown: ${String(error).slice(0, 300)}`;
}

/** A target's description of its input; inputs too deep or odd to describe still get a line. */
function describeInput<I>(target: FuzzTarget<I>, input: I): string {
  try {
    return target.describe?.(input) ?? '';
  } catch (error) {
    return `(not describable: ${(error as Error)?.name})`;
  }
}

/** The command that runs exactly one case again. */
export function replayCommand(target: string, seed: number, index: number, file: string): string {
  return `ATM_FUZZ_SEED=${seed} ATM_FUZZ_TARGET=${target} ATM_FUZZ_CASE=${index} npx vitest run --project fuzz ${file}`;
}

/**
 * Runs a target's share of the cases (or the one case being replayed) and throws an Error
 * listing the first failures, each with its replay command. Writes the target's counts for the
 * closing table.
 */
export async function runTarget<I>(target: FuzzTarget<I>, file: string): Promise<TargetStats> {
  const seed = fuzzSeed();
  const replay = replayCase(target.name);
  const indices = replay !== undefined ? [replay] : Array.from({ length: casesFor(target.name) }, (_, i) => i);
  if (indices.length === 0) return emptyStats(target.name, seed); // another target is being run alone
  const stats: TargetStats = {
    target: target.name,
    seed,
    cases: 0,
    rejected: 0,
    accepted: 0,
    crashes: 0,
    hangs: 0,
    wrong: 0,
    codes: {},
    ms: 0,
  };
  const failures: FailureReport[] = [];
  let current = -1;
  let currentInput = '';
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const started = performance.now();
  const record = (index: number, kind: FailureReport['kind'], detail: string) => {
    if (kind === 'crash') stats.crashes++;
    else if (kind === 'hang') stats.hangs++;
    else stats.wrong++;
    if (failures.length < MAX_REPORTED) failures.push({ index, kind, detail, input: currentInput });
  };
  try {
    for (const index of indices) {
      current = index;
      stats.cases++;
      let input: I;
      try {
        input = await target.generate(caseRng(seed, target.name, index), index);
        currentInput = describeInput(target, input);
      } catch (error) {
        // A broken generator is a bug in the fuzzer, not in the code under test; still a failure.
        record(index, 'crash', `generator failed: ${describeError(error)}`);
        continue;
      }
      let verdict: Verdict | undefined;
      try {
        verdict = await withTimeout(target.run(input, index), CASE_TIMEOUT_MS);
      } catch (error) {
        if (error instanceof Hang) record(index, 'hang', error.message);
        else if (error instanceof OracleFailure) record(index, 'wrong', describeError(error));
        else if (error instanceof AtmError) verdict = rejected(error.code);
        else record(index, 'crash', describeError(error));
      }
      // Let rejections nobody awaited surface before the next case starts.
      await new Promise((resolve) => setImmediate(resolve));
      if (unhandled.length > 0) {
        record(index, 'crash', `unhandled rejection: ${describeError(unhandled.splice(0)[0])}`);
        continue;
      }
      if (verdict === undefined) continue;
      if ('accepted' in verdict) {
        stats.accepted++;
      } else if (target.allowed.includes(verdict.rejected)) {
        stats.rejected++;
        stats.codes[verdict.rejected] = (stats.codes[verdict.rejected] ?? 0) + 1;
      } else {
        record(index, 'crash', `rejected with a code this target does not allow: ${verdict.rejected}`);
      }
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    stats.ms = Math.round(performance.now() - started);
    if (!process.env.ATM_FUZZ_CASE) writeStats(stats);
  }
  if (failures.length > 0) {
    const lines = failures.map(
      (f) =>
        `case ${f.index} (${f.kind}): ${f.detail}\n  input: ${f.input}\n  replay: ${replayCommand(target.name, seed, f.index, file)}`,
    );
    throw new Error(
      `${target.name}: ${stats.crashes} crashes, ${stats.hangs} hangs, ${stats.wrong} wrong results in ${stats.cases} cases (seed ${seed}, last case ${current})\n${lines.join('\n\n')}`,
    );
  }
  return stats;
}

function emptyStats(target: string, seed: number): TargetStats {
  return { target, seed, cases: 0, rejected: 0, accepted: 0, crashes: 0, hangs: 0, wrong: 0, codes: {}, ms: 0 };
}

function writeStats(stats: TargetStats): void {
  mkdirSync(STATS_DIR, { recursive: true });
  writeFileSync(join(STATS_DIR, `${stats.target}.json`), JSON.stringify(stats));
}
