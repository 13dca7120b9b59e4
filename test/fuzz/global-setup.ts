import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATS_DIR } from './lib/budget';
import type { TargetStats } from './lib/harness';
import { closingTable } from './lib/table';

/**
 * Each fuzz target writes its counts to test-results/fuzz/<target>.json; once every file ran,
 * this prints the closing table (and keeps it in test-results/fuzz/summary.md).
 */
export default function setup(): () => void {
  const started = performance.now();
  rmSync(STATS_DIR, { recursive: true, force: true });
  mkdirSync(STATS_DIR, { recursive: true });
  return () => {
    if (process.env.ATM_FUZZ_CASE) return; // a replay: no table
    const rows = readdirSync(STATS_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(STATS_DIR, f), 'utf8')) as TargetStats);
    if (rows.length === 0) return;
    const table = closingTable(rows, performance.now() - started);
    writeFileSync(join(STATS_DIR, 'summary.md'), table);
    process.stdout.write(`\n${table}`);
  };
}
