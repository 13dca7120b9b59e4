import { describe, expect, it } from 'vitest';
import { BUCKETS, bucketFor, pad, unpad } from '../../../src/protocol/padding';
import { isAtmError } from '../../../src/errors';

function code(fn: () => unknown) {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return isAtmError(error) ? error.code : 'untyped';
  }
}

describe('padding to buckets', () => {
  it('puts each payload in the smallest bucket that fits it with the overhead', () => {
    expect(bucketFor(0, 28)).toBe(512);
    expect(bucketFor(512 - 4 - 28, 28)).toBe(512);
    expect(bucketFor(512 - 4 - 28 + 1, 28)).toBe(2048);
    expect(bucketFor(65536 - 4 - 48, 48)).toBe(65536);
    // Past the largest record bucket: blob sizes (§6.5), up to 2 MiB.
    expect(bucketFor(65536 - 4 - 48 + 1, 48)).toBe(131072);
    expect(bucketFor(2097152 - 4 - 28, 28)).toBe(2097152);
    expect(bucketFor(2097152 - 4 - 28 + 1, 28)).toBeUndefined();
  });

  it('round-trips payloads of every size class, with padded length = bucket - overhead', () => {
    for (const size of [0, 1, 100, 480, 481, 2000, 8000, 65000]) {
      const m = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
      const padded = pad(m, 28);
      expect(BUCKETS).toContain(padded.length + 28);
      expect(unpad(padded)).toEqual(m);
    }
  });

  it('refuses what fits no bucket', () => {
    expect(code(() => pad(new Uint8Array(2097152), 28))).toBe('PayloadTooLarge');
    expect(pad(new Uint8Array(65536), 28).length + 28).toBe(131072);
  });

  it('rejects a length past the end, a non-zero fill, and a truncated prefix', () => {
    const padded = pad(new Uint8Array([1, 2, 3]), 28);
    const longer = padded.slice();
    new DataView(longer.buffer).setUint32(0, padded.length);
    expect(code(() => unpad(longer))).toBe('InvalidEnvelope');
    const dirty = padded.slice();
    dirty[dirty.length - 1] = 1;
    expect(code(() => unpad(dirty))).toBe('InvalidEnvelope');
    expect(code(() => unpad(new Uint8Array(3)))).toBe('InvalidEnvelope');
  });
});
