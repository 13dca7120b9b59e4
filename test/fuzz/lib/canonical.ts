import { toHex } from '../../../src/bytes';

/**
 * A stable text form of a value for "unchanged" and "round-trips" checks: object keys sorted,
 * bytes as hex, bigints marked, CryptoKeys by their algorithm and usages (they cannot be read,
 * and the epoch they belong to is visible beside them). Nesting past `maxDepth` is cut, which
 * only matters for inputs the code under test accepted with absurd depth.
 */
export function canonical(value: unknown, maxDepth = 200): string {
  const out: string[] = [];
  write(value, 0);
  return out.join('');

  function write(v: unknown, depth: number): void {
    if (depth > maxDepth) {
      out.push('…');
      return;
    }
    if (v === undefined) out.push('undefined');
    else if (v === null || typeof v === 'boolean') out.push(String(v));
    else if (typeof v === 'number') out.push(Object.is(v, -0) ? '-0' : String(v));
    else if (typeof v === 'bigint') out.push(`${v}n`);
    else if (typeof v === 'string') out.push(JSON.stringify(v));
    else if (v instanceof Uint8Array) out.push(`b'${toHex(v)}'`);
    else if (v instanceof ArrayBuffer) out.push(`ab'${toHex(new Uint8Array(v))}'`);
    else if (typeof CryptoKey !== 'undefined' && v instanceof CryptoKey) {
      out.push(`CryptoKey(${JSON.stringify(v.algorithm)},${v.type},${[...v.usages].sort().join('|')})`);
    } else if (Array.isArray(v)) {
      out.push('[');
      v.forEach((x, i) => {
        if (i > 0) out.push(',');
        write(x, depth + 1);
      });
      out.push(']');
    } else if (v instanceof Map) {
      out.push('Map');
      write([...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)), depth + 1);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v as object).sort();
      out.push('{');
      keys.forEach((k, i) => {
        if (i > 0) out.push(',');
        out.push(JSON.stringify(k), ':');
        write((v as Record<string, unknown>)[k], depth + 1);
      });
      out.push('}');
    } else {
      out.push(`<${typeof v}>`);
    }
  }
}
