import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBase64, toBase64 } from './mutate-bytes';

/**
 * Fixtures are JSON with two tagged forms: `{"$b64": ...}` for bytes and `{"$bigint": ...}` for
 * bigints. (Distinct from lexicon JSON's `$bytes`, which records keep as they came over XRPC.)
 */
export function encodeFixture(value: unknown): string {
  return JSON.stringify(
    value,
    function (this: Record<string, unknown>, key, v: unknown) {
      // The raw value, before toJSON: a Buffer (what some encoders return) would already be
      // {type: 'Buffer', data} by the time `v` arrives.
      const raw = this[key];
      if (raw instanceof Uint8Array) return { $b64: toBase64(raw) };
      if (typeof v === 'bigint') return { $bigint: v.toString() };
      return v;
    },
    1,
  );
}

export function decodeFixture<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && typeof o.$b64 === 'string') return fromBase64(o.$b64);
      if (keys.length === 1 && typeof o.$bigint === 'string') return BigInt(o.$bigint);
    }
    return v;
  }) as T;
}

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function loadFixture<T>(name: string): T {
  return decodeFixture<T>(readFileSync(join(FIXTURES_DIR, name), 'utf8'));
}
