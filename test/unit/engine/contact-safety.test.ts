import { describe, expect, it } from 'vitest';
import { toHex } from '../../../src/bytes';
import { createAuthenticationService } from '../../../src/engine/authentication-service';
import {
  createContactSafety,
  provenDeviceSet,
  safetyState,
  type SafetyState,
} from '../../../src/engine/contact-safety';
import type {
  ContactVerification,
  ContactVerificationStore,
  PublicRepos,
  RecordProver,
} from '../../../src/engine/ports';
import { AtmError, isAtmError } from '../../../src/errors';
import { DEVICE_COLLECTION_NSID } from '../../../src/protocol/records';
import { fingerprint, safetyNumber } from '../../../src/protocol/safety-number';
import { MemoryRepo } from './memory-repo';

// Unit level: repos in memory, the real Authentication Service over an in-memory prover that
// answers from the same records (what a CAR proof would show). The real PDS, CAR proofs and a
// forged listing are in test/integration/contact-safety.test.ts.
const ALICE = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const b64 = (bytes: Uint8Array) => ({ $bytes: Buffer.from(bytes).toString('base64').replace(/=+$/, '') });
const key = (fill: number) => new Uint8Array(32).fill(fill);

function deviceJson(signatureKey: Uint8Array) {
  return {
    $type: 'org.atmessaging.device',
    signatureKey: b64(signatureKey),
    inviteKey: b64(key(0xee)),
    cipherSuites: [1],
    createdAt: '2026-11-25T12:00:00.000Z',
  };
}

function world() {
  const repos = new Map([ALICE, BOB].map((did) => [did, new MemoryRepo(did)]));
  const repo = (did: string) => repos.get(did)!;
  let listings = 0;
  let offline = false;
  // What the listing shows can be made to differ from what the signed repo holds.
  const listingOverride = new Map<string, unknown>();
  const publicRepos: PublicRepos = {
    async listRecords(did, collection, options) {
      listings++;
      if (offline) throw new AtmError('Network', 'offline');
      const records = await repo(did).listRecords(did, collection, options);
      return records.map((r) => (listingOverride.has(r.uri) ? { ...r, value: listingOverride.get(r.uri) } : r));
    },
    listRecordsAfter: (did, c, a, l) => repo(did).listRecordsAfter(did, c, a, l),
    getBlob: (did, cid) => repo(did).getBlob(did, cid),
  };
  const proofsAbsent = new Set<string>();
  const prover: RecordProver = {
    async proveRecord(did, collection, rkey) {
      if (offline) throw new AtmError('Network', 'offline');
      const found = repo(did).get(collection, rkey);
      if (!found || proofsAbsent.has(`at://${did}/${collection}/${rkey}`)) return undefined;
      return { did, collection, rkey, cid: found.cid, json: found.json };
    },
  };
  const clock = { t: 1_000, now: () => clock.t };
  const as = createAuthenticationService({ prover, clock });
  const stored = new Map<string, ContactVerification>();
  const store: ContactVerificationStore = {
    get: async (did) => stored.get(did),
    put: async (v) => void stored.set(v.did, { ...v }),
    delete: async (did) => void stored.delete(did),
  };
  const changes: Array<[string, SafetyState]> = [];
  const safetyOf = (myDid: string) =>
    createContactSafety({ myDid, publicRepos, as, store, clock, onStateChanged: (did, s) => changes.push([did, s]) });
  const putDevice = (did: string, rkey: string, signatureKey: Uint8Array) =>
    repo(did).seed(DEVICE_COLLECTION_NSID, rkey, deviceJson(signatureKey));
  return {
    repo,
    publicRepos,
    as,
    clock,
    stored,
    changes,
    safetyOf,
    putDevice,
    listingOverride,
    proofsAbsent,
    listings: () => listings,
    setOffline: (o: boolean) => (offline = o),
  };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

const uri = (did: string, rkey: string) => `at://${did}/org.atmessaging.device/${rkey}`;

describe('safety state', () => {
  it('is unverified without a stored verification, verified for the same fingerprint, changed for another', () => {
    expect(safetyState(undefined, 'aa')).toBe('unverified');
    expect(safetyState({ did: BOB, fingerprint: 'aa', verifiedAt: 1 }, 'aa')).toBe('verified');
    expect(safetyState({ did: BOB, fingerprint: 'aa', verifiedAt: 1 }, 'bb')).toBe('changed');
  });
});

describe('proven device set', () => {
  it('keeps the devices the repo proves, with their keys', async () => {
    const w = world();
    w.putDevice(BOB, '3lbbbbbbbbbb2', key(2));
    w.putDevice(BOB, '3lbbbbbbbbbb3', key(3));
    const set = await provenDeviceSet(w, BOB);
    expect(set.rejected).toEqual([]);
    expect(set.devices.map((d) => [d.uri, toHex(d.signatureKey)]).sort()).toEqual([
      [uri(BOB, '3lbbbbbbbbbb2'), toHex(key(2))],
      [uri(BOB, '3lbbbbbbbbbb3'), toHex(key(3))],
    ]);
  });

  it('leaves out listed records that do not prove: another key, absent from the repo, invalid, not a TID', async () => {
    const w = world();
    w.putDevice(BOB, '3lbbbbbbbbbb2', key(2));
    w.putDevice(BOB, '3lbbbbbbbbbb3', key(3));
    w.putDevice(BOB, '3lbbbbbbbbbb4', key(4));
    w.repo(BOB).seed(DEVICE_COLLECTION_NSID, '3lbbbbbbbbbb5', {
      $type: 'org.atmessaging.device',
      signatureKey: 'nope',
    });
    w.putDevice(BOB, 'self', key(6));
    // The listing claims key 9 where the signed repo holds key 3; device 4 has no proof.
    w.listingOverride.set(uri(BOB, '3lbbbbbbbbbb3'), deviceJson(key(9)));
    w.proofsAbsent.add(uri(BOB, '3lbbbbbbbbbb4'));
    const set = await provenDeviceSet(w, BOB);
    expect(set.devices.map((d) => d.uri)).toEqual([uri(BOB, '3lbbbbbbbbbb2')]);
    expect(Object.fromEntries(set.rejected.map((r) => [r.uri.split('/').pop(), r.code]))).toEqual({
      '3lbbbbbbbbbb3': 'KeyMismatch',
      '3lbbbbbbbbbb4': 'UnknownDevice',
      '3lbbbbbbbbbb5': 'InvalidRecord',
      self: 'InvalidCredential',
    });
  });

  it('decides nothing when the network fails', async () => {
    const w = world();
    w.putDevice(BOB, '3lbbbbbbbbbb2', key(2));
    w.setOffline(true);
    expect(await code(provenDeviceSet(w, BOB))).toBe('Network');
  });
});

describe('contact safety', () => {
  function twoPeople() {
    const w = world();
    w.putDevice(ALICE, '3laaaaaaaaaa2', key(1));
    w.putDevice(BOB, '3lbbbbbbbbbb2', key(2));
    return w;
  }

  it('shows both parties the same number, built from both proven device sets', async () => {
    const w = twoPeople();
    const fromAlice = await w.safetyOf(ALICE).safetyNumber(BOB);
    const fromBob = await w.safetyOf(BOB).safetyNumber(ALICE);
    expect(fromAlice.groups).toEqual(fromBob.groups);
    expect(fromAlice.qr).toBe(fromBob.qr);
    const aliceFp = fingerprint(ALICE, [{ uri: uri(ALICE, '3laaaaaaaaaa2'), signatureKey: key(1) }]);
    const bobFp = fingerprint(BOB, [{ uri: uri(BOB, '3lbbbbbbbbbb2'), signatureKey: key(2) }]);
    expect(fromAlice).toMatchObject({
      did: BOB,
      ...safetyNumber(aliceFp, bobFp),
      fingerprint: toHex(bobFp),
      state: 'unverified',
      devices: 1,
      rejected: 0,
    });
    expect(fromBob.fingerprint).toBe(toHex(aliceFp));
  });

  it('costs no network for contacts never verified', async () => {
    const w = twoPeople();
    expect(await w.safetyOf(ALICE).state(BOB)).toEqual({ did: BOB, state: 'unverified' });
    expect(w.listings()).toBe(0);
  });

  it('verifies the number shown; a key change turns it into changed; re-verifying clears that', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    const shown = await safety.safetyNumber(BOB);
    expect(await safety.verify(BOB, shown.fingerprint)).toEqual({ did: BOB, state: 'verified', verifiedAt: 1_000 });
    expect(w.stored.get(BOB)).toEqual({ did: BOB, fingerprint: shown.fingerprint, verifiedAt: 1_000 });
    expect(await safety.state(BOB)).toMatchObject({ state: 'verified' });

    // bob's device record now carries another key (the PDS replaced it, or someone forged it).
    w.putDevice(BOB, '3lbbbbbbbbbb2', key(7));
    await safety.repoChanged(BOB);
    expect(w.changes).toEqual([[BOB, 'changed']]);
    expect(await safety.state(BOB)).toEqual({ did: BOB, state: 'changed', verifiedAt: 1_000 });
    const again = await safety.safetyNumber(BOB);
    expect(again).toMatchObject({ state: 'changed' });
    expect(again.groups).not.toEqual(shown.groups);

    // The old number is no longer accepted: it is not what bob's devices are now.
    expect(await code(safety.verify(BOB, shown.fingerprint))).toBe('SafetyNumberChanged');
    expect(w.stored.get(BOB)?.fingerprint).toBe(shown.fingerprint);

    w.clock.t = 2_000;
    expect(await safety.verify(BOB, again.fingerprint)).toEqual({ did: BOB, state: 'verified', verifiedAt: 2_000 });
    expect(await safety.state(BOB)).toMatchObject({ state: 'verified' });
  });

  it('notices an added device once the cached set expires, without a hint', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    await safety.verify(BOB, (await safety.safetyNumber(BOB)).fingerprint);
    expect((await safety.state(BOB)).state).toBe('verified');
    w.putDevice(BOB, '3lbbbbbbbbbb3', key(3));
    // Within the cache window the member list reuses the proven set...
    expect((await safety.state(BOB)).state).toBe('verified');
    w.clock.t += 60_000;
    // ...and then reads it again.
    expect((await safety.state(BOB)).state).toBe('changed');
  });

  it('refuses a change made between showing the number and clicking "verified"', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    const shown = await safety.safetyNumber(BOB);
    w.putDevice(BOB, '3lbbbbbbbbbb3', key(3));
    expect(await code(safety.verify(BOB, shown.fingerprint))).toBe('SafetyNumberChanged');
    expect(w.stored.size).toBe(0);
  });

  it('unverifies, and reports nothing for contacts that are not verified', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    await safety.verify(BOB, (await safety.safetyNumber(BOB)).fingerprint);
    expect(await safety.unverify(BOB)).toEqual({ did: BOB, state: 'unverified' });
    expect(w.stored.size).toBe(0);
    w.putDevice(BOB, '3lbbbbbbbbbb3', key(3));
    await safety.repoChanged(BOB);
    expect(w.changes).toEqual([]);
    expect(await safety.state(BOB)).toEqual({ did: BOB, state: 'unverified' });
  });

  it('refuses your own DID, and accounts without devices', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    expect(await code(safety.safetyNumber(ALICE))).toBe('BadRequest');
    expect(await code(safety.verify(ALICE, '00'.repeat(32)))).toBe('BadRequest');
    const carol = 'did:plc:cccccccccccccccccccccccc';
    const repos = w.publicRepos;
    w.publicRepos.listRecords = async (did, c, o) => (did === carol ? [] : repos.listRecords.call(repos, did, c, o));
    const none = toHex(fingerprint(carol, []));
    expect(await code(safety.verify(carol, none))).toBe('BadRequest');
  });

  it('keeps the stored verification when the network fails', async () => {
    const w = twoPeople();
    const safety = w.safetyOf(ALICE);
    const shown = await safety.safetyNumber(BOB);
    await safety.verify(BOB, shown.fingerprint);
    w.setOffline(true);
    await safety.repoChanged(BOB).catch(() => {});
    expect(await code(safety.state(BOB))).toBe('Network');
    expect(await code(safety.verify(BOB, shown.fingerprint))).toBe('Network');
    expect(w.stored.get(BOB)?.fingerprint).toBe(shown.fingerprint);
    w.setOffline(false);
    expect((await safety.state(BOB)).state).toBe('verified');
  });
});
