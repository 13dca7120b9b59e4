import { toBase64 } from './mutate-bytes';
import type { Rng } from './prng';

/**
 * Structural mutators for JSON-like inputs: records as they come over XRPC (lexicon JSON with
 * `$bytes`/`$link`) and RPC messages from pages (structured-cloned, so also `undefined`, NaN,
 * bigint, Map, typed arrays...). A mutation picks a node of the value and deletes it, adds a
 * sibling, or replaces it with a value of another type, an oversized one or a deeply nested one.
 */
export type ValueMode = 'json' | 'clone';

export interface ValueMutation {
  value: unknown;
  ops: string[];
}

type Path = Array<string | number>;

/** 2 MiB of one character: past every string limit we set, small enough to run often. */
const TWO_MIB = 2 * 1024 * 1024;

/** Every path to a node of `value` (objects and arrays are walked; depth-capped). */
function paths(value: unknown, prefix: Path = [], out: Path[] = [], depth = 0): Path[] {
  out.push(prefix);
  if (depth > 12 || value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    value.slice(0, 64).forEach((v, i) => paths(v, [...prefix, i], out, depth + 1));
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value).slice(0, 64)) paths((value as Record<string, unknown>)[key], [...prefix, key], out, depth + 1);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function get(value: unknown, path: Path): unknown {
  let v = value;
  for (const k of path) v = (v as Record<string | number, unknown>)[k];
  return v;
}

/** A copy of `root` with the node at `path` replaced (or deleted when `replacement` is DELETE). */
const DELETE = Symbol('delete');
function set(root: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement === DELETE ? undefined : replacement;
  const [head, ...rest] = path;
  if (Array.isArray(root)) {
    const copy = root.slice();
    if (rest.length === 0 && replacement === DELETE) copy.splice(head as number, 1);
    else copy[head as number] = set(copy[head as number], rest, replacement);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(root as Record<string, unknown>) };
  if (rest.length === 0 && replacement === DELETE) delete copy[head as string];
  else defineOwn(copy, head as string, set(copy[head as string], rest, replacement));
  return copy;
}

/** Own data property even for `__proto__` (as JSON.parse and structuredClone make it). */
function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A value nested `depth` levels deep, built without recursion. */
export function deeplyNested(rng: Rng, depth: number): unknown {
  let v: unknown = rng.pick([null, 0, 'x', [], {}]);
  const asArray = rng.chance(0.5);
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$type', '$bytes', '$link', '', ' ', 'a'.repeat(300)];

const STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800', // lone surrogate
  '\udfff\ud800',
  '\u202e\u200b\ufeff',
  'e\u0301'.repeat(500), // many code points, few graphemes
  '👩‍👩‍👧‍👦'.repeat(300),
  'A'.repeat(10_001),
  'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
  'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/org.atmessaging.device/3kaaaaaaaaaaa',
  'org.atmessaging.event',
  'org.atmessaging.content#text',
  '2024-01-01T00:00:00.000Z',
  '0000-00-00T00:00:00Z',
  '../../etc',
  '<script>',
  'javascript:alert(1)',
];

const NUMBERS = [0, -0, 1, -1, 0.5, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324];

/** A value of an arbitrary kind; `clone` mode adds what only structured clone carries. */
export function hostileValue(rng: Rng, mode: ValueMode): unknown {
  const kinds: Array<() => unknown> = [
    () => null,
    () => rng.chance(0.5),
    () => rng.pick(NUMBERS),
    () => rng.pick(STRINGS),
    () => 'x'.repeat(rng.pick([TWO_MIB, 65_536, 513, 257])),
    () => [],
    () => ({}),
    () => new Array(rng.pick([1, 100, 10_000])).fill(rng.pick([0, 'a', null])),
    () => deeplyNested(rng, rng.pick([64, 1_000, 20_000])),
    () => ({ $bytes: rng.pick(['', '!!!!', 'AAAA', 'AA==', 'AAA', 'A', '====', 'A-_B', ' AAAA', 'AAAA\n', toBase64(rng.bytes(rng.pick([0, 15, 16, 17, 511, 512, 65536])))]) }),
    () => ({ $link: rng.pick(['', 'bafy', 'x'.repeat(100), 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku']) }),
    () => ({ $type: 'blob', ref: { $link: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' }, mimeType: 'application/octet-stream', size: rng.pick(NUMBERS) }),
  ];
  if (mode === 'clone') {
    kinds.push(
      () => undefined,
      () => rng.pick([NaN, Infinity, -Infinity]),
      () => BigInt(rng.pick([0, 1, -1, 2 ** 53])) * 1000n,
      () => new Date(rng.pick([0, NaN, 8.64e15])),
      () => new Map([['convoId', 'c1']]),
      () => new Set([1, 2]),
      () => rng.bytes(rng.pick([0, 16, 100])),
      () => new ArrayBuffer(8),
      () => /x/g,
      () => {
        const sparse: unknown[] = [];
        sparse[rng.pick([5, 1000])] = 1;
        return sparse;
      },
    );
  }
  return rng.pick(kinds)();
}

function mutateString(rng: Rng, s: string): string {
  switch (rng.int(7)) {
    case 0:
      return s.slice(0, rng.int(s.length + 1));
    case 1:
      return s + rng.pick(STRINGS);
    case 2: {
      const at = rng.int(s.length + 1);
      return s.slice(0, at) + String.fromCharCode(rng.pick([0, 0x2f, 0x3a, 0x40, 0x7f, 0xd800, 0xffff, rng.int(0x10000)])) + s.slice(at + 1);
    }
    case 3:
      return s.toUpperCase();
    case 4:
      return s.repeat(rng.pick([2, 100]));
    case 5:
      return s.replace(/=+$/, '') + rng.pick(['=', '==', '===', '']);
    default:
      return s.split('').reverse().join('');
  }
}

/** One to three stacked structural mutations of `input` (never changed itself). */
export function mutateValue(rng: Rng, input: unknown, mode: ValueMode): ValueMutation {
  let value = input;
  const ops: string[] = [];
  const rounds = rng.weighted([
    [6, 1],
    [3, 2],
    [1, 3],
  ] as const);
  for (let round = 0; round < rounds; round++) {
    const all = paths(value);
    const path = rng.pick(all);
    const node = get(value, path);
    const where = path.join('.') || '<root>';
    const choice = rng.weighted([
      [3, 'replace'],
      [2, 'delete'],
      [2, 'extra'],
      [2, 'tweak'],
      [1, 'wrap'],
    ] as const);
    if (choice === 'delete' && path.length > 0) {
      value = set(value, path, DELETE);
      ops.push(`delete ${where}`);
    } else if (choice === 'extra' && isPlainObject(node)) {
      const key = rng.chance(0.5) ? rng.pick(SPECIAL_KEYS) : `x${rng.int(1000)}`;
      const extended: Record<string, unknown> = { ...node };
      defineOwn(extended, key, hostileValue(rng, mode));
      value = set(value, path, extended);
      ops.push(`extra ${where}.${key.slice(0, 20)}`);
    } else if (choice === 'extra' && Array.isArray(node)) {
      value = set(value, path, [...node, rng.chance(0.5) && node.length > 0 ? rng.pick(node) : hostileValue(rng, mode)]);
      ops.push(`append ${where}`);
    } else if (choice === 'tweak' && typeof node === 'string') {
      value = set(value, path, mutateString(rng, node));
      ops.push(`tweak-string ${where}`);
    } else if (choice === 'tweak' && typeof node === 'number') {
      value = set(value, path, rng.chance(0.5) ? rng.pick(NUMBERS) : node + rng.pick([-1, 1, 0.5]));
      ops.push(`tweak-number ${where}`);
    } else if (choice === 'tweak' && typeof node === 'boolean') {
      value = set(value, path, rng.pick([!node, 0, 1, 'true', null]));
      ops.push(`tweak-bool ${where}`);
    } else if (choice === 'wrap') {
      value = set(value, path, rng.chance(0.5) ? [node] : { value: node });
      ops.push(`wrap ${where}`);
    } else {
      value = set(value, path, hostileValue(rng, mode));
      ops.push(`replace ${where}`);
    }
  }
  return { value, ops };
}
