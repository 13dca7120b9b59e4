import type { Rng } from './prng';

/**
 * Byte-level mutators for binary inputs (TLS-encoded MLS messages, envelopes, CARs, CBOR).
 * Each takes the input and returns a new array; the input is never changed. `describe` names
 * what was done, so a failure report says more than a case index.
 */
export interface ByteMutation {
  bytes: Uint8Array;
  /** e.g. "bitflip@37", "truncate->12". */
  ops: string[];
}

/** Values that sit on the edges of the encodings we parse: TLS varints, lengths, CBOR heads. */
export const BOUNDARY_BYTES = [0x00, 0x01, 0x02, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xfe, 0xff] as const;

/**
 * Length-like values written in place: zero, small, near 2^8/2^14/2^16/2^30/2^31/2^32 and the
 * MLS varint maxima, so a parser is tempted to allocate or read far past the input.
 */
export const BOUNDARY_LENGTHS = [
  0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0xfffe, 0xffff, 0x10000, 0x10001, 0x3fffffff,
  0x40000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
] as const;

type Mutator = (rng: Rng, input: Uint8Array, others: readonly Uint8Array[]) => { bytes: Uint8Array; op: string };

function copy(input: Uint8Array): Uint8Array {
  return input.slice();
}

/** A position biased toward the start (where headers and length prefixes live). */
function position(rng: Rng, length: number): number {
  if (length === 0) return 0;
  return rng.chance(0.4) ? rng.int(Math.min(length, 64)) : rng.int(length);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An MLS (RFC 9420 §2.1.2) variable-length integer, deliberately allowing the maximum. */
function mlsVarint(value: number): Uint8Array {
  if (value < 0x40) return Uint8Array.of(value);
  if (value < 0x4000) return Uint8Array.of(0x40 | (value >> 8), value & 0xff);
  const v = Math.min(value, 0x3fffffff);
  return Uint8Array.of(0x80 | (v >>> 24), (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

const MUTATORS: ReadonlyArray<readonly [number, Mutator]> = [
  [
    3,
    (rng, input) => {
      const at = rng.int(Math.max(input.length, 1));
      return { bytes: input.slice(0, at), op: `truncate->${at}` };
    },
  ],
  [
    2,
    (rng, input) => {
      const n = rng.pick([1, 2, 4, 16, 100, 1000]);
      const tail = rng.chance(0.5) ? rng.bytes(n) : new Uint8Array(n).fill(rng.pick(BOUNDARY_BYTES));
      return { bytes: concat(input, tail), op: `extend+${n}` };
    },
  ],
  [
    5,
    (rng, input) => {
      if (input.length === 0) return { bytes: Uint8Array.of(rng.int(256)), op: 'bitflip-empty' };
      const out = copy(input);
      const flips = rng.pick([1, 1, 1, 2, 4, 8]);
      const at: number[] = [];
      for (let i = 0; i < flips; i++) {
        const p = position(rng, out.length);
        out[p]! ^= 1 << rng.int(8);
        at.push(p);
      }
      return { bytes: out, op: `bitflip@${at.join(',')}` };
    },
  ],
  [
    4,
    (rng, input) => {
      if (input.length === 0) return { bytes: Uint8Array.of(rng.pick(BOUNDARY_BYTES)), op: 'replace-empty' };
      const out = copy(input);
      const p = position(rng, out.length);
      const value = rng.chance(0.7) ? rng.pick(BOUNDARY_BYTES) : rng.int(256);
      out[p] = value;
      return { bytes: out, op: `byte@${p}=${value}` };
    },
  ],
  [
    3,
    (rng, input) => {
      // A length-like value written over the bytes at a position, in one of the encodings
      // our formats use: big-endian uint16/uint32 (padding, invite payload) or an MLS varint.
      const value = rng.pick(BOUNDARY_LENGTHS);
      const kind = rng.pick(['u16', 'u32', 'varint'] as const);
      const field =
        kind === 'u16'
          ? Uint8Array.of((value >>> 8) & 0xff, value & 0xff)
          : kind === 'u32'
            ? Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
            : mlsVarint(value);
      const out = copy(input);
      const p = position(rng, Math.max(out.length - field.length + 1, 1));
      for (let i = 0; i < field.length && p + i < out.length; i++) out[p + i] = field[i]!;
      return { bytes: out, op: `${kind}@${p}=${value}` };
    },
  ],
  [
    2,
    (rng, input) => {
      const p = position(rng, input.length + 1);
      const n = rng.pick([1, 2, 3, 8, 32]);
      return { bytes: concat(input.slice(0, p), rng.bytes(n), input.slice(p)), op: `insert@${p}+${n}` };
    },
  ],
  [
    2,
    (rng, input) => {
      const p = position(rng, input.length);
      const n = Math.min(rng.pick([1, 2, 4, 16, 64]), input.length - p);
      return { bytes: concat(input.slice(0, p), input.slice(p + n)), op: `delete@${p}-${n}` };
    },
  ],
  [
    1,
    (rng, input) => {
      // Duplicate a chunk in place (repeated fields, lists with one more element).
      const p = position(rng, input.length);
      const n = Math.min(rng.range(1, 64), input.length - p);
      const chunk = input.slice(p, p + n);
      return { bytes: concat(input.slice(0, p + n), chunk, input.slice(p + n)), op: `dup@${p}x${n}` };
    },
  ],
  [
    1,
    (rng, input) => {
      const out = copy(input);
      const p = position(rng, out.length);
      const n = Math.min(rng.range(1, 32), out.length - p);
      out.fill(rng.pick([0x00, 0xff]), p, p + n);
      return { bytes: out, op: `fill@${p}x${n}` };
    },
  ],
  [
    2,
    (rng, input, others) => {
      // Splice: the head of this sample and the tail of another (or of itself, shifted).
      const other = others.length > 0 ? rng.pick(others) : input;
      const a = rng.int(input.length + 1);
      const b = rng.int(other.length + 1);
      return { bytes: concat(input.slice(0, a), other.slice(b)), op: `splice@${a}|${b}` };
    },
  ],
];

/** One to four stacked mutations (mostly one, so most cases stay close to a valid input). */
export function mutateBytes(rng: Rng, input: Uint8Array, others: readonly Uint8Array[] = []): ByteMutation {
  const rounds = rng.weighted([
    [6, 1],
    [3, 2],
    [1, 4],
  ] as const);
  let bytes = input;
  const ops: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const { bytes: next, op } = rng.weighted(MUTATORS)(rng, bytes, others);
    bytes = next;
    ops.push(op);
  }
  return { bytes, ops };
}

/**
 * Mostly mutated, now and then the sample as it is: targets whose mutated inputs are all refused
 * (signed or sealed bytes) still run their accepted-result checks on the genuine input.
 */
export function mutateOrKeep(rng: Rng, input: Uint8Array, others: readonly Uint8Array[] = []): ByteMutation {
  return rng.chance(0.03) ? { bytes: input, ops: ['unaltered'] } : mutateBytes(rng, input, others);
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
