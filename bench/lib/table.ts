import type { Sample } from './measure';

/**
 * One row of the table: our figure and a reference measured in the same run, their ratio, and
 * the target for that ratio (or an absolute limit).
 */
export interface Row {
  section: string;
  what: string;
  ours: Sample | undefined;
  unit: 'ms' | 'KB' | 'B' | 'MB';
  reference?: { name: string; value: Sample | undefined };
  /** Ratio target (ours / reference at most), or an absolute limit in `unit`. */
  target?: { ratio: number } | { atMost: number };
  note?: string;
}

function fmt(sample: Sample | undefined, unit: Row['unit']): string {
  if (!sample) return 'n/a';
  const v = sample.median;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit}`;
}

export function ratioOf(row: Row): number | undefined {
  const ref = row.reference?.value;
  if (!row.ours || !ref || ref.median === 0) return undefined;
  return row.ours.median / ref.median;
}

function verdict(row: Row): string {
  if (!row.target || !row.ours) return '';
  if ('ratio' in row.target) {
    const ratio = ratioOf(row);
    if (ratio === undefined) return `≤ ${row.target.ratio}×`;
    return `≤ ${row.target.ratio}× ${ratio <= row.target.ratio ? 'met' : `missed by ${(ratio / row.target.ratio).toFixed(2)}×`}`;
  }
  const ok = row.ours.median <= row.target.atMost;
  return `≤ ${row.target.atMost} ${row.unit} ${ok ? 'met' : `missed by ${(row.ours.median / row.target.atMost).toFixed(2)}×`}`;
}

/** A Markdown table (it reads as plain text too), with the run counts in the last column. */
export function renderTable(rows: Row[]): string {
  const header = ['section', 'what', 'ours', 'reference', 'ratio', 'target', 'runs', 'note'];
  const lines = rows.map((r) => {
    const ratio = ratioOf(r);
    return [
      r.section,
      r.what,
      fmt(r.ours, r.unit),
      r.reference ? `${fmt(r.reference.value, r.unit)} (${r.reference.name})` : '',
      ratio === undefined ? '' : `${ratio.toFixed(2)}×`,
      verdict(r),
      r.ours ? String(r.ours.runs) : '',
      r.note ?? '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...lines.map(line)].join('\n');
}
