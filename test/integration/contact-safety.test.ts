import type { AtpAgent } from '@atproto/api';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createIdentityResolver } from '../../src/atproto/identity';
import { createRecordProver } from '../../src/atproto/record-proof';
import { publicRepos as createPublicRepos } from '../../src/atproto/repos';
import type { FetchLike } from '../../src/atproto/http';
import { toHex } from '../../src/bytes';
import { createAuthenticationService } from '../../src/engine/authentication-service';
import { createContactSafety, provenDeviceSet, type SafetyState } from '../../src/engine/contact-safety';
import type { PublicRepos } from '../../src/engine/ports';
import { newTid } from '../../src/engine/tid';
import { isAtmError } from '../../src/errors';
import { generateSignatureKeyPair, createSuite } from '../../src/mls';
import { DEVICE, DEVICE_COLLECTION_NSID, recordJson } from '../../src/protocol/records';
import { fingerprint } from '../../src/protocol/safety-number';
import { idbContactVerifications } from '../../src/store/contact-store';
import { openAtmDb } from '../../src/store/db';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, startDevice, type TestDevice } from './device-harness';

// Key-change safety, against the real PLC + PDS: a contact's device set is listed from
// their repo and every record is proven by a CAR signed with their #atproto key; a replaced key
// changes the fingerprint and turns "verified" into "changed"; forged records never count.

const net = attachNetwork(inject('network'));
const SMALL_POOL = {
  oneTime: 1,
  lastResort: 1,
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 0,
  graceMs: 0,
  consumedGraceMs: 0,
};

let alice: Account;
let bob: Account;
let mallory: Account;
let bobAgent: AtpAgent;
let malloryAgent: AtpAgent;
let aliceDevice: TestDevice;
let bobDevice: TestDevice;

/** The production reading path, with a hook to play a dishonest PDS for the forgery tests. */
function reader(
  options: {
    fetch?: FetchLike;
    listing?: (did: string, records: Awaited<ReturnType<PublicRepos['listRecords']>>) => typeof records;
  } = {},
) {
  const identity = createIdentityResolver({ plcUrl: net.plcUrl });
  const as = createAuthenticationService({
    prover: createRecordProver({ identity, ...(options.fetch ? { fetch: options.fetch } : {}) }),
    clock,
  });
  const honest = createPublicRepos({ identity });
  const publicRepos: PublicRepos = {
    ...honest,
    async listRecords(did, collection, o) {
      const records = await honest.listRecords(did, collection, o);
      return options.listing ? options.listing(did, records) : records;
    },
  };
  return { as, publicRepos };
}

async function safetyFor(myDid: string, deps = reader()) {
  const changes: Array<[string, SafetyState]> = [];
  const db = await openAtmDb(`atm-safety-${myDid}-${newTid()}`);
  const safety = createContactSafety({
    myDid,
    ...deps,
    store: idbContactVerifications(db),
    clock,
    onStateChanged: (did, state) => changes.push([did, state]),
  });
  return { safety, changes, store: idbContactVerifications(db) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

function deviceRecord(signatureKey: Uint8Array) {
  return recordJson(
    DEVICE,
    DEVICE.$build({
      signatureKey,
      inviteKey: new Uint8Array(32).fill(7),
      cipherSuites: [1],
      createdAt: new Date().toISOString() as never,
    }),
  ) as Record<string, unknown>;
}

beforeAll(async () => {
  [alice, bob, mallory] = await Promise.all([
    net.createAccount(uniqueName('safealice')),
    net.createAccount(uniqueName('safebob')),
    net.createAccount(uniqueName('safemal')),
  ]);
  const [aliceAgent, b, m] = await Promise.all([
    resumeCreationSession(net.pdsUrl, alice),
    resumeCreationSession(net.pdsUrl, bob),
    resumeCreationSession(net.pdsUrl, mallory),
  ]);
  bobAgent = b;
  malloryAgent = m;
  [aliceDevice, bobDevice] = await Promise.all([
    startDevice('safe-alice', aliceAgent, alice.did, net.plcUrl, SMALL_POOL),
    startDevice('safe-bob', bobAgent, bob.did, net.plcUrl, SMALL_POOL),
  ]);
});

describe("a contact's device set", () => {
  it('is listed from their repo and every record proven by a CAR signed with their key', async () => {
    const set = await provenDeviceSet(reader(), bob.did);
    expect(set.rejected).toEqual([]);
    expect(set.devices.map((d) => [d.uri, toHex(d.signatureKey)])).toEqual([
      [bobDevice.device.uri, toHex(bobDevice.device.signature.publicKey)],
    ]);
    // The proven record is the one the PDS lists (same CID).
    const listed = await bobAgent.com.atproto.repo.listRecords({ repo: bob.did, collection: DEVICE_COLLECTION_NSID });
    expect(set.devices[0]!.cid).toBe(listed.data.records[0]!.cid);
  });

  it('gives both people the same safety number', async () => {
    const fromAlice = await (await safetyFor(alice.did)).safety.safetyNumber(bob.did);
    const fromBob = await (await safetyFor(bob.did)).safety.safetyNumber(alice.did);
    expect(fromAlice.groups).toHaveLength(12);
    expect(fromAlice.groups).toEqual(fromBob.groups);
    expect(fromAlice.qr).toBe(fromBob.qr);
    expect(fromAlice.fingerprint).toBe(
      toHex(fingerprint(bob.did, [{ uri: bobDevice.device.uri, signatureKey: bobDevice.device.signature.publicKey }])),
    );
    expect(fromBob.fingerprint).toBe(
      toHex(
        fingerprint(alice.did, [{ uri: aliceDevice.device.uri, signatureKey: aliceDevice.device.signature.publicKey }]),
      ),
    );
  });
});

describe('verification', () => {
  it("turns into 'changed' when bob's device record is replaced with another key, until alice verifies again", async () => {
    const { safety, changes, store } = await safetyFor(alice.did);
    const shown = await safety.safetyNumber(bob.did);
    expect(await safety.verify(bob.did, shown.fingerprint)).toMatchObject({ state: 'verified' });
    expect(await safety.state(bob.did)).toMatchObject({ state: 'verified' });

    // The same device record, another signature key: what a PDS (or whoever holds bob's
    // account) swapping in its own key looks like. Written through the real PDS.
    const suite = await createSuite();
    const swapped = await generateSignatureKeyPair(suite);
    await bobAgent.com.atproto.repo.putRecord({
      repo: bob.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey: bobDevice.device.rkey,
      record: deviceRecord(swapped.publicKey),
    });
    await safety.repoChanged(bob.did);
    expect(changes).toEqual([[bob.did, 'changed']]);
    expect(await safety.state(bob.did)).toMatchObject({ state: 'changed' });

    const now = await safety.safetyNumber(bob.did);
    expect(now.state).toBe('changed');
    expect(now.fingerprint).toBe(
      toHex(fingerprint(bob.did, [{ uri: bobDevice.device.uri, signatureKey: swapped.publicKey }])),
    );
    expect(now.groups).not.toEqual(shown.groups);
    // The number alice compared before is no longer accepted, and her record of it is kept.
    expect(await code(safety.verify(bob.did, shown.fingerprint))).toBe('SafetyNumberChanged');
    expect((await store.get(bob.did))?.fingerprint).toBe(shown.fingerprint);

    expect(await safety.verify(bob.did, now.fingerprint)).toMatchObject({ state: 'verified' });
    expect(await safety.state(bob.did)).toMatchObject({ state: 'verified' });

    // Put bob's real key back for the tests that follow.
    await bobAgent.com.atproto.repo.putRecord({
      repo: bob.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey: bobDevice.device.rkey,
      record: deviceRecord(bobDevice.device.signature.publicKey),
    });
    await safety.repoChanged(bob.did);
    expect(changes.at(-1)).toEqual([bob.did, 'changed']);
  });

  it("turns into 'changed' when bob registers another device", async () => {
    const { safety, changes } = await safetyFor(alice.did);
    await safety.verify(bob.did, (await safety.safetyNumber(bob.did)).fingerprint);
    const second = await startDevice('safe-bob2', bobAgent, bob.did, net.plcUrl, SMALL_POOL);
    await safety.repoChanged(bob.did);
    expect(changes).toEqual([[bob.did, 'changed']]);
    expect((await safety.safetyNumber(bob.did)).devices).toBe(2);
    // Revoking it again restores the verified set.
    await bobAgent.com.atproto.repo.deleteRecord({
      repo: bob.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey: second.device.rkey,
    });
    await safety.repoChanged(bob.did);
    expect(changes).toEqual([
      [bob.did, 'changed'],
      [bob.did, 'verified'],
    ]);
  });
});

describe('forged device records', () => {
  it("never count: another repo's record, a listing that lies about a key, or a record not in the repo", async () => {
    // mallory publishes a device record in her own repo, under a record key of her choice...
    const suite = await createSuite();
    const malloryKey = await generateSignatureKeyPair(suite);
    const rkey = newTid();
    await malloryAgent.com.atproto.repo.putRecord({
      repo: mallory.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey,
      record: deviceRecord(malloryKey.publicKey),
    });
    const forgedUri = `at://${bob.did}/${DEVICE_COLLECTION_NSID}/${rkey}`;
    const absentUri = `at://${bob.did}/${DEVICE_COLLECTION_NSID}/${newTid()}`;
    // ...and a dishonest PDS lists it as bob's, serves her signed proof for it, claims bob's real
    // device has mallory's key, and lists a device bob's repo does not have.
    const deps = reader({
      listing: (did, records) =>
        did !== bob.did
          ? records
          : [
              ...records.map((r) => ({ ...r, value: deviceRecord(malloryKey.publicKey) })),
              { uri: forgedUri, cid: records[0]!.cid, rkey, value: deviceRecord(malloryKey.publicKey) },
              {
                uri: absentUri,
                cid: records[0]!.cid,
                rkey: absentUri.split('/').pop()!,
                value: deviceRecord(malloryKey.publicKey),
              },
            ],
      fetch: (input, init) => {
        const url = new URL(input);
        if (url.pathname.endsWith('/com.atproto.sync.getRecord') && url.searchParams.get('rkey') === rkey) {
          url.searchParams.set('did', mallory.did);
        }
        return fetch(url, init);
      },
    });
    const set = await provenDeviceSet(deps, bob.did);
    expect(set.devices).toEqual([]);
    expect(Object.fromEntries(set.rejected.map((r) => [r.uri, r.code]))).toEqual({
      [bobDevice.device.uri]: 'KeyMismatch',
      [forgedUri]: 'ProofInvalid',
      [absentUri]: 'UnknownDevice',
    });

    // alice verified bob's real number: the forgery shows as a change, never as verified.
    const honest = await safetyFor(alice.did);
    const real = await honest.safety.safetyNumber(bob.did);
    await honest.safety.verify(bob.did, real.fingerprint);
    const fooled = await safetyFor(alice.did, deps);
    const underAttack = await fooled.safety.safetyNumber(bob.did);
    expect(underAttack).toMatchObject({ devices: 0, rejected: 3 });
    expect(underAttack.fingerprint).not.toBe(real.fingerprint);
    expect(underAttack.fingerprint).toBe(toHex(fingerprint(bob.did, [])));
  });

  it('never count when the proof bytes are altered', async () => {
    const deps = reader({
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (!new URL(input).pathname.endsWith('/com.atproto.sync.getRecord')) return response;
        const car = new Uint8Array(await response.arrayBuffer());
        // Flip a byte of the signature key inside the record block.
        const at = Buffer.from(car).indexOf(Buffer.from(bobDevice.device.signature.publicKey));
        expect(at).toBeGreaterThan(0);
        car[at + 3]! ^= 0x01;
        return new Response(car, { status: 200, headers: response.headers });
      },
    });
    const set = await provenDeviceSet(deps, bob.did);
    expect(set.devices).toEqual([]);
    expect(set.rejected).toEqual([{ uri: bobDevice.device.uri, code: 'ProofInvalid' }]);
  });
});
