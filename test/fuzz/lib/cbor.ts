import type { Rng } from './prng';

/**
 * A deliberately loose CBOR writer (RFC 8949) for type confusion: the encodings DAG-CBOR forbids
 * or a strict decoder must refuse (non-minimal heads, indefinite lengths, unsorted or duplicate
 * map keys, tags, floats, undefined, text/bytes swapped) next to ordinary ones.
 */
export type Loose =
  | { tag: number; value: Loose }
  | { float: number; width: 2 | 4 | 8 }
  | { simple: number }
  | { indefinite: 'text' | 'bytes' | 'array' | 'map'; items: Loose[] }
  | { map: Array<[Loose, Loose]> }
  | { raw: Uint8Array }
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Uint8Array
  | Loose[];

function head(major: number, n: number | bigint, minWidth = 0): number[] {
  const v = BigInt(n);
  const m = major << 5;
  if (v < 24n && minWidth === 0) return [m | Number(v)];
  if (v < 0x100n && minWidth <= 1) return [m | 24, Number(v)];
  if (v < 0x10000n && minWidth <= 2) return [m | 25, Number(v >> 8n), Number(v & 0xffn)];
  if (v < 0x100000000n && minWidth <= 4) return [m | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn))];
  return [m | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn))];
}

export interface LooseOptions {
  /** Chance of writing a head wider than needed. */
  wide?: number;
  rng?: Rng;
}

export function encodeLoose(value: Loose, options: LooseOptions = {}): Uint8Array {
  const out: number[] = [];
  // Not out.push(...bytes): spreading megabytes overflows the argument stack.
  const append = (bytes: ArrayLike<number>) => {
    for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
  };
  const width = () => (options.rng && options.wide && options.rng.chance(options.wide) ? options.rng.pick([1, 2, 4, 8]) : 0);
  const write = (v: Loose): void => {
    if (v === undefined) out.push(0xf7);
    else if (v === null) out.push(0xf6);
    else if (v === true) out.push(0xf5);
    else if (v === false) out.push(0xf4);
    else if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isInteger(v)) return write({ float: v, width: 8 });
      const b = BigInt(v);
      if (b >= 0n) out.push(...head(0, b, width()));
      else out.push(...head(1, -1n - b, width()));
    } else if (typeof v === 'string') {
      const bytes = new TextEncoder().encode(v);
      append(head(3, bytes.length, width()));
      append(bytes);
    } else if (v instanceof Uint8Array) {
      append(head(2, v.length, width()));
      append(v);
    } else if (Array.isArray(v)) {
      out.push(...head(4, v.length, width()));
      v.forEach(write);
    } else if ('tag' in v) {
      out.push(...head(6, v.tag, width()));
      write(v.value);
    } else if ('float' in v) {
      const buf = new DataView(new ArrayBuffer(8));
      if (v.width === 8) {
        buf.setFloat64(0, v.float);
        out.push(0xfb, ...new Uint8Array(buf.buffer, 0, 8));
      } else if (v.width === 4) {
        buf.setFloat32(0, v.float);
        out.push(0xfa, ...new Uint8Array(buf.buffer, 0, 4));
      } else {
        // Half precision: only the values it holds exactly matter here (0, 1, -2, Infinity, NaN).
        const half = Number.isNaN(v.float) ? 0x7e00 : v.float === Infinity ? 0x7c00 : v.float === -Infinity ? 0xfc00 : v.float === 0 ? 0 : 0x3c00;
        out.push(0xf9, half >> 8, half & 0xff);
      }
    } else if ('simple' in v) {
      if (v.simple < 24) out.push(0xe0 | v.simple);
      else out.push(0xf8, v.simple & 0xff);
    } else if ('indefinite' in v) {
      const major = { bytes: 2, text: 3, array: 4, map: 5 }[v.indefinite];
      out.push((major << 5) | 31);
      v.items.forEach(write);
      out.push(0xff);
    } else if ('map' in v) {
      out.push(...head(5, v.map.length, width()));
      for (const [k, x] of v.map) {
        write(k);
        write(x);
      }
    } else if ('raw' in v) {
      append(v.raw);
    }
  };
  write(value);
  return Uint8Array.from(out);
}
