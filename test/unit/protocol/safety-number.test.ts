import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { isAtmError } from '../../../src/errors';
import {
  compareSafetyQr,
  deviceKeySet,
  fingerprint,
  fingerprintDigits,
  safetyNumber,
  FINGERPRINT_ITERATIONS,
  type DeviceKey,
} from '../../../src/protocol/safety-number';
import { deviceFromSeeds, hex, unhex, VECTOR_SEEDS } from './vector-device';

// docs/test-vectors/safety-number-v1.json is normative (docs/protocol.md §9); it was written by
// scripts/make-safety-vectors.ts. Everything is recomputed here from the seeds.
const vectors = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../../docs/test-vectors/safety-number-v1.json'), 'utf8'),
);

interface VectorPerson {
  did: string;
  devices: Array<{ uri: string; signatureSeed: string; signatureKey: string }>;
  keySet: string;
  keySetHash: string;
  h0: string;
  fingerprint: string;
  digits: string;
}

const people = vectors.fingerprints as Record<string, VectorPerson>;
const keysOf = (p: VectorPerson): DeviceKey[] =>
  p.devices.map((d) => ({ uri: d.uri, signatureKey: unhex(d.signatureKey) }));

const ALICE = 'did:plc:vectorsaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:vectorsbbbbbbbbbbbbbbbbb';
const key = (fill: number) => new Uint8Array(32).fill(fill);
const dev = (did: string, rkey: string, fill: number): DeviceKey => ({
  uri: `at://${did}/org.atmessaging.device/${rkey}`,
  signatureKey: key(fill),
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('safety number test vectors', () => {
  it('use the Ed25519 keys of their seeds (alice shares her first device with protocol-v1.json)', async () => {
    for (const p of Object.values(people)) {
      for (const d of p.devices) {
        const rkey = d.uri.split('/').pop()!;
        const keys = await deviceFromSeeds({
          ...VECTOR_SEEDS,
          did: p.did,
          rkey,
          signatureSeed: unhex(d.signatureSeed),
        });
        expect(hex(keys.signaturePublicKey)).toBe(d.signatureKey);
      }
    }
    const protocol = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '../../../docs/test-vectors/protocol-v1.json'), 'utf8'),
    );
    expect(people.alice!.devices[0]).toMatchObject({
      uri: protocol.device.credentialIdentity,
      signatureKey: protocol.device.signaturePublicKey,
    });
  });

  it('reproduce every key set, K, H_0, fingerprint and digit string', () => {
    expect(vectors.iterations).toBe(FINGERPRINT_ITERATIONS);
    for (const [name, p] of Object.entries(people)) {
      const keySet = deviceKeySet(p.did, keysOf(p));
      expect(hex(keySet), name).toBe(p.keySet);
      const k = sha512(keySet);
      expect(hex(k), name).toBe(p.keySetHash);
      // H_0 straight from the formula of §9.1, as an independent check of the label and layout.
      const did = new TextEncoder().encode(p.did);
      const h0 = sha512(
        new Uint8Array([...new TextEncoder().encode('atmessaging/v1 safety number'), 0, did.length, ...did, ...k]),
      );
      expect(hex(h0), name).toBe(p.h0);
      const fp = fingerprint(p.did, keysOf(p));
      expect(hex(fp), name).toBe(p.fingerprint);
      expect(fingerprintDigits(fp), name).toBe(p.digits);
    }
  });

  it('reproduce the iteration from H_0 (5200 rounds of SHA-512 over H || K)', () => {
    const p = people.bob!;
    let h: Uint8Array = unhex(p.h0);
    const k = unhex(p.keySetHash);
    for (let i = 0; i < FINGERPRINT_ITERATIONS; i++) h = sha512(new Uint8Array([...h, ...k]));
    expect(hex(h.slice(0, 32))).toBe(p.fingerprint);
  });

  it('reproduce every safety number and QR text, in either argument order', () => {
    for (const v of vectors.safetyNumbers as Array<{ between: [string, string]; groups: string[]; qr: string }>) {
      const [a, b] = v.between.map((n) => unhex(people[n]!.fingerprint)) as [Uint8Array, Uint8Array];
      expect(safetyNumber(a, b)).toEqual({ groups: v.groups, qr: v.qr });
      expect(safetyNumber(b, a)).toEqual({ groups: v.groups, qr: v.qr });
      expect(v.groups).toHaveLength(12);
      for (const g of v.groups) expect(g).toMatch(/^[0-9]{5}$/);
      // The halves are the two digit strings, lower fingerprint first.
      const [lo, hi] = [people[v.between[0]]!, people[v.between[1]]!].sort((x, y) =>
        x.fingerprint < y.fingerprint ? -1 : 1,
      );
      expect(v.groups.join('')).toBe(lo!.digits + hi!.digits);
      expect(v.qr).toBe(
        `ATMESSAGING:SAFETY-NUMBER:1:${lo!.fingerprint.toUpperCase()}:${hi!.fingerprint.toUpperCase()}`,
      );
    }
  });

  it("show that every change of bob's devices changes the number alice sees", () => {
    const numbers = (vectors.safetyNumbers as Array<{ groups: string[] }>).map((v) => v.groups.join(' '));
    expect(new Set(numbers).size).toBe(numbers.length);
    const fps = ['bob', 'bobRekeyed', 'bobTwoDevices', 'bobNoDevices'].map((n) => people[n]!.fingerprint);
    expect(new Set(fps).size).toBe(fps.length);
  });
});

describe('fingerprint', () => {
  it('does not depend on the order devices are listed in', () => {
    const devices = [dev(ALICE, '3lbaaaaaaaaaa', 1), dev(ALICE, '3lbbbbbbbbbbb', 2), dev(ALICE, '3lbcccccccccc', 3)];
    const reference = hex(fingerprint(ALICE, devices));
    for (const order of [
      [2, 0, 1],
      [1, 2, 0],
      [2, 1, 0],
    ]) {
      expect(
        hex(
          fingerprint(
            ALICE,
            order.map((i) => devices[i]!),
          ),
        ),
      ).toBe(reference);
    }
  });

  it('changes when a key changes, a device is added or removed, or the DID differs', () => {
    const base = [dev(ALICE, '3lbaaaaaaaaaa', 1), dev(ALICE, '3lbbbbbbbbbbb', 2)];
    const reference = hex(fingerprint(ALICE, base));
    const rekeyed = [
      base[0]!,
      { ...base[1]!, signatureKey: Uint8Array.from(key(2), (b, i) => (i === 31 ? b ^ 1 : b)) },
    ];
    const variants = [
      fingerprint(ALICE, rekeyed),
      fingerprint(ALICE, [...base, dev(ALICE, '3lbcccccccccc', 3)]),
      fingerprint(ALICE, [base[0]!]),
      fingerprint(ALICE, []),
      // Same keys under other record keys: a device is its record, not only its key.
      fingerprint(ALICE, [dev(ALICE, '3lbaaaaaaaaab', 1), base[1]!]),
    ].map(hex);
    expect(new Set([reference, ...variants]).size).toBe(variants.length + 1);
    expect(hex(fingerprint(BOB, []))).not.toBe(hex(fingerprint(ALICE, [])));
  });

  it('refuses devices of another DID, a device twice, wrong key lengths and non-DIDs', () => {
    expect(codeOf(() => fingerprint(ALICE, [dev(BOB, '3lbaaaaaaaaaa', 1)]))).toBe('InvalidInput');
    expect(codeOf(() => fingerprint(ALICE, [dev(ALICE, '3lbaaaaaaaaaa', 1), dev(ALICE, '3lbaaaaaaaaaa', 2)]))).toBe(
      'InvalidInput',
    );
    expect(
      codeOf(() => fingerprint(ALICE, [{ ...dev(ALICE, '3lbaaaaaaaaaa', 1), signatureKey: new Uint8Array(33) }])),
    ).toBe('InvalidInput');
    expect(codeOf(() => fingerprint('alice.test', []))).toBe('InvalidInput');
    expect(
      codeOf(() =>
        fingerprint(ALICE, [{ uri: `at://${ALICE}/app.bsky.feed.post/3lbaaaaaaaaaa`, signatureKey: key(1) }]),
      ),
    ).toBe('InvalidCredential');
  });
});

describe('safety number', () => {
  const a = fingerprint(ALICE, [dev(ALICE, '3lbaaaaaaaaaa', 1)]);
  const b = fingerprint(BOB, [dev(BOB, '3lbbbbbbbbbbb', 2)]);

  it('is the same for both parties', () => {
    expect(safetyNumber(a, b)).toEqual(safetyNumber(b, a));
  });

  it('needs two different 32-byte fingerprints', () => {
    expect(codeOf(() => safetyNumber(a, a))).toBe('InvalidInput');
    expect(codeOf(() => safetyNumber(a, b.slice(0, 31)))).toBe('InvalidInput');
  });

  it('has a QR text in the QR alphanumeric alphabet that only the same pair matches', () => {
    const ours = safetyNumber(a, b);
    expect(ours.qr).toMatch(/^[0-9A-Z:-]+$/);
    expect(compareSafetyQr(ours.qr, ours)).toBe('match');
    expect(compareSafetyQr(safetyNumber(b, a).qr, ours)).toBe('match');
    const other = safetyNumber(a, fingerprint(BOB, [dev(BOB, '3lbbbbbbbbbbb', 3)]));
    expect(compareSafetyQr(other.qr, ours)).toBe('mismatch');
    expect(compareSafetyQr(ours.qr.replace(':1:', ':2:'), ours)).toBe('unsupported');
    expect(compareSafetyQr(ours.qr.toLowerCase(), ours)).toBe('mismatch');
    expect(compareSafetyQr(`${ours.qr} `, ours)).toBe('mismatch');
    expect(compareSafetyQr('', ours)).toBe('mismatch');
  });
});
