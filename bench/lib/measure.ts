/** Timing helpers: medians over repeated runs, never asserted on (figures go into the table). */

export interface Sample {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function summarize(values: number[]): Sample {
  if (values.length === 0) throw new Error('no samples');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: values.length };
}

/** Runs `body` `warmup` times untimed, then `runs` times timed (ms); `body` may time a part itself. */
export async function repeat(
  runs: number,
  body: () => Promise<number | void>,
  warmup = 1,
): Promise<Sample> {
  for (let i = 0; i < warmup; i++) await body();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const own = await body();
    times.push(typeof own === 'number' ? own : performance.now() - t0);
  }
  return summarize(times);
}
