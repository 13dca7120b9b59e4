/**
 * The fuzzer's randomness: mulberry32 (a well-known 32-bit PRNG), used only to choose test cases
 * and mutations, never for anything secret. Every case gets its own generator, seeded from
 * (run seed, target, case index), so one case replays alone without running the ones before it.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [min, max] inclusive. */
  range(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Uint8Array;
  /** A weighted choice: `[weight, value]` pairs. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    range: (min, max) => min + int(max - min + 1),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(items.length)]!;
    },
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
    weighted: (choices) => {
      const total = choices.reduce((sum, [w]) => sum + w, 0);
      let x = next() * total;
      for (const [w, value] of choices) {
        if ((x -= w) < 0) return value;
      }
      return choices[choices.length - 1]![1];
    },
  };
}

/** FNV-1a over the UTF-16 code units: a stable 32-bit hash for deriving per-case seeds. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The generator of one case: the same (seed, target, index) always gives the same sequence. */
export function caseRng(seed: number, target: string, index: number): Rng {
  return mulberry32(hash32(`${seed >>> 0}/${target}/${index}`));
}
