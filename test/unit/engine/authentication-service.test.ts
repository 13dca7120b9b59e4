import { describe, expect, it } from 'vitest';
import { createAuthenticationService } from '../../../src/engine/authentication-service';
import type { ProvenRecord, RecordProver } from '../../../src/engine/ports';
import { deviceUri } from '../../../src/protocol/device-uri';
import { isAtmError, type AtmErrorCode } from '../../../src/errors';

// Unit level: the prover is an in-memory repo. The real CAR-verifying prover against a real PDS
// is covered by test/integration/identity.test.ts.
const did = 'did:plc:abcdefghijklmnopqrstuvwx';
const rkey = '3lbxyzabcde22';
const key = new Uint8Array(32).fill(5);
const b64 = (bytes: Uint8Array) => ({ $bytes: Buffer.from(bytes).toString('base64').replace(/=+$/, '') });

function deviceJson(signatureKey: Uint8Array) {
  return {
    $type: 'org.atmessaging.device',
    signatureKey: b64(signatureKey),
    inviteKey: b64(new Uint8Array(32).fill(1)),
    cipherSuites: [1],
    createdAt: '2026-11-25T12:00:00.000Z',
  };
}

function repo() {
  const records = new Map<string, unknown>();
  let calls = 0;
  let failing = false;
  const prover: RecordProver = {
    async proveRecord(d, collection, k): Promise<ProvenRecord | undefined> {
      calls++;
      if (failing) throw Object.assign(new Error('offline'), { code: 'Network' });
      const json = records.get(`${d}/${collection}/${k}`);
      return json === undefined ? undefined : { did: d, collection, rkey: k, cid: 'bafy', json };
    },
  };
  return {
    prover,
    put: (json: unknown) => records.set(`${did}/org.atmessaging.device/${rkey}`, json),
    remove: () => records.delete(`${did}/org.atmessaging.device/${rkey}`),
    calls: () => calls,
    setFailing: (f: boolean) => (failing = f),
  };
}

async function code(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped:${String(error)}`;
  }
}

describe('Authentication Service', () => {
  const uri = deviceUri({ did, rkey });

  it('accepts a leaf whose key equals the proven device record', async () => {
    const r = repo();
    r.put(deviceJson(key));
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => 0 } });
    const device = await as.verify(uri, key);
    expect(device).toMatchObject({ did, rkey, uri, cid: 'bafy' });
    expect(device.record.signatureKey).toEqual(key);
  });

  it('rejects a missing record, another key, an invalid record and a malformed identity', async () => {
    const r = repo();
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => 0 } });
    expect(await code(as.verify(uri, key))).toBe('UnknownDevice');
    r.put(deviceJson(new Uint8Array(32).fill(6)));
    expect(await code(as.verify(uri, key))).toBe('KeyMismatch');
    r.put({ ...deviceJson(key), cipherSuites: 'all' });
    expect(await code(as.verify(uri, key))).toBe('InvalidRecord');
    expect(await code(as.verify('alice', key))).toBe('InvalidCredential');
  });

  it('caches successes until expiry, never failures', async () => {
    const r = repo();
    let now = 0;
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => now }, ttlMs: 1000 });
    expect(await code(as.verify(uri, key))).toBe('UnknownDevice');
    r.put(deviceJson(key));
    await as.verify(uri, key); // the earlier failure was not cached
    const before = r.calls();
    await as.verify(uri, key);
    expect(r.calls()).toBe(before);
    r.remove();
    now = 1001;
    expect(await code(as.verify(uri, key))).toBe('UnknownDevice');
  });

  it('forgets a DID on request (e.g. its device records changed)', async () => {
    const r = repo();
    r.put(deviceJson(key));
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => 0 } });
    await as.verify(uri, key);
    r.remove();
    as.forget(did);
    expect(await code(as.verify(uri, key))).toBe('UnknownDevice');
  });

  it('shares one proof fetch between concurrent checks of the same leaf', async () => {
    const r = repo();
    r.put(deviceJson(key));
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => 0 } });
    await Promise.all([as.verify(uri, key), as.verify(uri, key), as.verify(uri, key)]);
    expect(r.calls()).toBe(1);
  });

  it('passes network failures through without deciding anything', async () => {
    const r = repo();
    r.put(deviceJson(key));
    r.setFailing(true);
    const as = createAuthenticationService({ prover: r.prover, clock: { now: () => 0 } });
    expect(await code(as.verify(uri, key))).toMatch(/^untyped:/);
    r.setFailing(false);
    expect(await code(as.verify(uri, key))).toBe('resolved');
  });

  it('does not cache a proof that was in flight when the DID was forgotten', async () => {
    const r = repo();
    r.put(deviceJson(key));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: RecordProver = {
      async proveRecord(...args) {
        await gate;
        return r.prover.proveRecord(...args);
      },
    };
    const as = createAuthenticationService({ prover: slow, clock: { now: () => 0 } });
    const first = as.verify(uri, key);
    as.forget(did); // e.g. the firehose reported a change to the DID's device records
    release();
    await first;
    r.remove();
    expect(await code(as.verify(uri, key))).toBe('UnknownDevice');
  });
});
