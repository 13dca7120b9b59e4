import type { TargetStats } from './harness';

/** The closing table: one row per target and a total. Crashes, hangs and wrong results must be 0. */
export function closingTable(rows: TargetStats[], elapsedMs?: number): string {
  const sorted = rows.slice().sort((a, b) => a.target.localeCompare(b.target));
  const total = sorted.reduce(
    (t, r) => ({
      cases: t.cases + r.cases,
      rejected: t.rejected + r.rejected,
      accepted: t.accepted + r.accepted,
      crashes: t.crashes + r.crashes,
      hangs: t.hangs + r.hangs,
      wrong: t.wrong + r.wrong,
      ms: t.ms + r.ms,
    }),
    { cases: 0, rejected: 0, accepted: 0, crashes: 0, hangs: 0, wrong: 0, ms: 0 },
  );
  const header = ['target', 'cases', 'typed rejections', 'accepted', 'crashes', 'hangs', 'wrong', 'seconds'];
  const body = sorted.map((r) => [r.target, r.cases, r.rejected, r.accepted, r.crashes, r.hangs, r.wrong, (r.ms / 1000).toFixed(1)]);
  body.push(['total', total.cases, total.rejected, total.accepted, total.crashes, total.hangs, total.wrong, (total.ms / 1000).toFixed(1)]);
  const cells = [header, ...body].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const lines = [line(cells[0]!), rule, ...cells.slice(1).map(line)];
  const seeds = [...new Set(sorted.map((r) => r.seed))].join(', ');
  const codes = sorted
    .map((r) => `  ${r.target}: ${Object.entries(r.codes).sort(([, a], [, b]) => b - a).map(([c, n]) => `${c} ${n}`).join(', ') || '-'}`)
    .join('\n');
  const wall = elapsedMs === undefined ? '' : `, ${(elapsedMs / 1000).toFixed(0)} s wall clock`;
  return `fuzzing: seed ${seeds}${wall}\n${lines.join('\n')}\nrejections by code:\n${codes}\n`;
}
