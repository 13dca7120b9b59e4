import { AtpAgent } from '@atproto/api';
import { IdResolver } from '@atproto/identity';
import { verifyRecords } from '@atproto/repo';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyRecordProof } from '../../src/atproto/record-proof';
import { createIdentityResolver } from '../../src/atproto/identity';
import { createGroupWithDevices, joinFromWelcome } from '../../src/engine/groups';
import { findKeyPackages } from '../../src/engine/key-package-directory';
import { replenishKeyPackages, DEFAULT_POOL_POLICY } from '../../src/engine/key-package-pool';
import { isAtmError, type AtmErrorCode } from '../../src/errors';
import {
  decryptApplicationMessage,
  encryptApplicationMessage,
  epochAuthenticator,
  generateKeyPackage,
  generateSignatureKeyPair,
  validateKeyPackage,
  members,
  type GroupState,
} from '../../src/mls';
import { decodeWelcomeMessage, encodeWelcomeMessage } from '../../src/mls/messageCodec';
import { deviceUri } from '../../src/protocol/device-uri';
import { DEVICE, DEVICE_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID, parseRecord } from '../../src/protocol/records';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, shell, startDevice, type TestDevice } from './device-harness';
import { newTid } from '../../src/engine/tid';

// Identity, end to end against the real PLC + PDS: devices and key packages live in
// the users' repos, and every credential is checked against a CAR-verified device record.

const net = attachNetwork(inject('network'));

async function failure(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

async function records(did: string, collection: string) {
  const { data } = await new AtpAgent({ service: net.pdsUrl }).com.atproto.repo.listRecords({
    repo: did,
    collection,
    limit: 100,
  });
  return data.records;
}

async function getRecordCar(did: string, collection: string, rkey: string): Promise<Uint8Array> {
  const url = new URL('/xrpc/com.atproto.sync.getRecord', net.pdsUrl);
  url.search = new URLSearchParams({ did, collection, rkey }).toString();
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

let alice: Account;
let bob: Account;
let aliceAgent: AtpAgent;
let bobAgent: AtpAgent;
let devices: Record<'alice1' | 'alice2' | 'bob1' | 'bob2', TestDevice>;

beforeAll(async () => {
  [alice, bob] = await Promise.all([net.createAccount(uniqueName('alice')), net.createAccount(uniqueName('bob'))]);
  [aliceAgent, bobAgent] = await Promise.all([
    resumeCreationSession(net.pdsUrl, alice),
    resumeCreationSession(net.pdsUrl, bob),
  ]);
  // Each device is its own browser profile; two of them share each account.
  const [alice1, alice2, bob1, bob2] = await Promise.all([
    startDevice('alice1', aliceAgent, alice.did, net.plcUrl),
    startDevice('alice2', aliceAgent, alice.did, net.plcUrl),
    startDevice('bob1', bobAgent, bob.did, net.plcUrl),
    startDevice('bob2', bobAgent, bob.did, net.plcUrl),
  ]);
  devices = { alice1: alice1!, alice2: alice2!, bob1: bob1!, bob2: bob2! };
});

describe('device registration', () => {
  it('publishes a device record per browser profile, and a full key-package pool per device', async () => {
    for (const [account, names] of [
      [alice, ['alice1', 'alice2']],
      [bob, ['bob1', 'bob2']],
    ] as const) {
      const deviceRecords = await records(account.did, DEVICE_COLLECTION_NSID);
      expect(deviceRecords.map((r) => r.uri).sort()).toEqual(names.map((n) => devices[n].device.uri).sort());
      const kps = await records(account.did, KEY_PACKAGE_COLLECTION_NSID);
      for (const n of names) {
        const mine = kps.filter((r) => (r.value as { device: string }).device === devices[n].device.rkey);
        expect(mine).toHaveLength(DEFAULT_POOL_POLICY.oneTime + DEFAULT_POOL_POLICY.lastResort);
        expect(mine.filter((r) => (r.value as { lastResort: boolean }).lastResort)).toHaveLength(1);
      }
    }
  });

  it('keeps the device stable across restarts (same rkey, no second record)', async () => {
    const before = await records(alice.did, DEVICE_COLLECTION_NSID);
    const again = await replenishKeyPackages({
      repo: devices.alice1.repo,
      publicRepos: devices.alice1.publicRepos,
      keyPackages: devices.alice1.keyPackages,
      device: devices.alice1.device,
      mls: devices.alice1.mls,
      newTid,
    });
    expect(again.published).toBe(0);
    expect(await records(alice.did, DEVICE_COLLECTION_NSID)).toHaveLength(before.length);
  });

  it('every device verifies through the Authentication Service (CAR proof from the PDS)', async () => {
    const { as } = shell(net.plcUrl);
    for (const d of Object.values(devices)) {
      const verified = await as.verify(d.device.uri, d.device.signature.publicKey);
      expect(verified.record.inviteKey).toEqual(d.device.invite.publicKey);
    }
  });
});

describe('a group of four devices from key packages in their repos', () => {
  let states: Record<string, GroupState>;
  let consumedBy: Record<string, string>;

  beforeAll(async () => {
    const created = await createGroupWithDevices(devices.alice1, [bob.did]);
    expect(created.skipped).toEqual([]);
    expect(created.missing).toEqual([]);
    states = { alice1: created.state };
    consumedBy = {};
    for (const name of ['alice2', 'bob1', 'bob2'] as const) {
      const joined = await joinFromWelcome(devices[name], created.welcome!, created.ratchetTree, async (s, id) => {
        states[name] = s;
        devices[name].welcomes.add(id);
      });
      expect(joined.consumed).toBe(true);
      consumedBy[name] = created.added.find((a) => a.device === devices[name].device.rkey)!.rkey;
      expect(joined.lastResort).toBe(false);
    }
  });

  it('holds all four devices, and all agree on the epoch', () => {
    const identities = members(states.alice1!).map((m) => m.identity).sort();
    expect(identities).toEqual(Object.values(devices).map((d) => d.device.uri).sort());
    const authenticator = epochAuthenticator(states.alice1!);
    for (const name of ['alice2', 'bob1', 'bob2']) {
      expect(epochAuthenticator(states[name]!)).toEqual(authenticator);
    }
  });

  it("delivers a message with the sender's authenticated device identity", async () => {
    const sent = await encryptApplicationMessage(devices.alice1.mls, states.alice1!, new TextEncoder().encode('hi bob'));
    const got = await decryptApplicationMessage(devices.bob2.mls, states.bob2!, sent.message);
    expect(new TextDecoder().decode(got.plaintext)).toBe('hi bob');
    expect(got.sender.identity).toBe(devices.alice1.device.uri);
  });

  it("deletes bob's consumed key packages from his repo, and his pool is full again", async () => {
    const before = await records(bob.did, KEY_PACKAGE_COLLECTION_NSID);
    for (const name of ['bob1', 'bob2'] as const) {
      expect(before.map((r) => r.uri)).not.toContain(`at://${bob.did}/${KEY_PACKAGE_COLLECTION_NSID}/${consumedBy[name]}`);
      await replenishKeyPackages({ ...devices[name], newTid });
    }
    const after = await records(bob.did, KEY_PACKAGE_COLLECTION_NSID);
    for (const name of ['bob1', 'bob2'] as const) {
      const mine = after.filter((r) => (r.value as { device: string }).device === devices[name].device.rkey);
      expect(mine).toHaveLength(DEFAULT_POOL_POLICY.oneTime + DEFAULT_POOL_POLICY.lastResort);
      expect(mine.map((r) => r.uri)).not.toContain(`at://${bob.did}/${KEY_PACKAGE_COLLECTION_NSID}/${consumedBy[name]}`);
    }
  });

  it('refuses a second use of the same Welcome, and a Welcome whose key package is gone', async () => {
    const created = await createGroupWithDevices(devices.alice1, []);
    expect(created.added.map((a) => a.device)).toEqual([devices.alice2.device.rkey]);
    const record = async (_s: GroupState, id: string) => void devices.alice2.welcomes.add(id);
    await joinFromWelcome(devices.alice2, created.welcome!, created.ratchetTree, record);
    expect(await failure(joinFromWelcome(devices.alice2, created.welcome!, created.ratchetTree, record))).toBe(
      'WelcomeReplayed',
    );
    // The same Welcome in other bytes (a recipient appended to its secrets) still opens, and is
    // still the same Welcome: the log keys on group, epoch and key package, not on bytes.
    const copy = reencodedWelcome(created.welcome!);
    expect(copy).not.toEqual(created.welcome!);
    expect(await failure(joinFromWelcome(devices.alice2, copy, created.ratchetTree, record))).toBe('WelcomeReplayed');
    // Even with the replay log lost, the consumed key package's keys are gone once its grace
    // period is over (the pool's sweep forgets them).
    devices.alice2.welcomes.clear();
    clock.advance(DEFAULT_POOL_POLICY.consumedGraceMs + 1);
    await replenishKeyPackages({ ...devices.alice2, newTid });
    expect(await failure(joinFromWelcome(devices.alice2, created.welcome!, created.ratchetTree, record))).toBe(
      'WelcomeNotForUs',
    );
  });
});

/** A Welcome's secrets with one more recipient (a random KeyPackageRef): other bytes, same meaning. */
function reencodedWelcome(welcome: Uint8Array): Uint8Array {
  const decoded = decodeWelcomeMessage(welcome);
  const first = decoded.secrets[0]!;
  const stranger = { ...first, newMember: crypto.getRandomValues(new Uint8Array(first.newMember.length)) };
  return encodeWelcomeMessage({ ...decoded, secrets: [stranger, ...decoded.secrets] });
}

describe('the Authentication Service rejects', () => {
  it('a leaf naming a device record that does not exist', async () => {
    const { as } = shell(net.plcUrl);
    const uri = deviceUri({ did: alice.did, rkey: newTid() });
    expect(await failure(as.verify(uri, devices.alice1.device.signature.publicKey))).toBe('UnknownDevice');
  });

  it('a leaf whose device record was deleted (revoked)', async () => {
    const carolDevice = await startDevice('alice3', aliceAgent, alice.did, net.plcUrl, {
      ...DEFAULT_POOL_POLICY,
      oneTime: 1,
    });
    const { as } = shell(net.plcUrl);
    await as.verify(carolDevice.device.uri, carolDevice.device.signature.publicKey);
    await aliceAgent.com.atproto.repo.deleteRecord({
      repo: alice.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey: carolDevice.device.rkey,
    });
    as.forget(alice.did);
    expect(await failure(as.verify(carolDevice.device.uri, carolDevice.device.signature.publicKey))).toBe('UnknownDevice');
    // ...and its leftover key packages are never offered to group creators.
    const found = await findKeyPackages({ publicRepos: carolDevice.publicRepos, mls: devices.bob1.mls }, alice.did);
    expect(found.keyPackages.map((k) => k.device)).not.toContain(carolDevice.device.rkey);
  });

  it('a leaf holding another signature key than its device record', async () => {
    const { as } = shell(net.plcUrl);
    const other = await generateSignatureKeyPair(devices.bob1.mls.suite);
    expect(await failure(as.verify(devices.alice1.device.uri, other.publicKey))).toBe('KeyMismatch');
    // The same forgery as an MLS KeyPackage (validly self-signed) is refused by the MLS layer.
    const forged = await generateKeyPackage(devices.bob1.mls, {
      identity: devices.alice1.device.uri,
      signatureKeyPair: other,
    });
    expect(await failure(validateKeyPackage(devices.bob1.mls, forged.keyPackage))).toBe('UntrustedCredential');
  });

  it('a lexicon-invalid device record, and skips a lexicon-invalid key package record', async () => {
    const rkey = newTid();
    await aliceAgent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: DEVICE_COLLECTION_NSID,
      rkey,
      record: { $type: DEVICE_COLLECTION_NSID, signatureKey: 'not bytes', createdAt: 'now' },
    });
    const kpRkey = newTid();
    await aliceAgent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: KEY_PACKAGE_COLLECTION_NSID,
      rkey: kpRkey,
      record: { $type: KEY_PACKAGE_COLLECTION_NSID, keyPackage: { $bytes: 'AAEC' }, device: devices.alice1.device.rkey },
    });
    const { as } = shell(net.plcUrl);
    expect(await failure(as.verify(deviceUri({ did: alice.did, rkey }), new Uint8Array(32)))).toBe('InvalidRecord');
    const found = await findKeyPackages({ publicRepos: devices.bob1.publicRepos, mls: devices.bob1.mls }, alice.did);
    expect(found.skipped).toContainEqual({ uri: `at://${alice.did}/${DEVICE_COLLECTION_NSID}/${rkey}`, code: 'InvalidRecord' });
    expect(found.skipped).toContainEqual({
      uri: `at://${alice.did}/${KEY_PACKAGE_COLLECTION_NSID}/${kpRkey}`,
      code: 'InvalidRecord',
    });
    expect(found.keyPackages.map((k) => k.rkey)).not.toContain(kpRkey);
  });
});

describe('record proofs (com.atproto.sync.getRecord CARs)', () => {
  async function proofFor(d: TestDevice) {
    const resolved = await createIdentityResolver({ plcUrl: net.plcUrl }).resolveDid(d.device.did);
    const car = await getRecordCar(d.device.did, DEVICE_COLLECTION_NSID, d.device.rkey);
    const args = { did: d.device.did, collection: DEVICE_COLLECTION_NSID, rkey: d.device.rkey, signingKey: resolved.signingKey };
    return { car, args };
  }

  it('verify, and agree with the reference implementation (@atproto/repo)', async () => {
    const { car, args } = await proofFor(devices.bob1);
    const ours = await verifyRecordProof({ ...args, car });
    expect(ours?.cid).toBeTruthy();
    const didKey = await new IdResolver({ plcUrl: net.plcUrl }).did.resolveAtprotoKey(bob.did);
    const reference = await verifyRecords(car, bob.did, didKey);
    const claim = reference.find((r) => r.collection === DEVICE_COLLECTION_NSID && r.rkey === args.rkey);
    const referenceRecord = claim?.record as { signatureKey?: Uint8Array } | null | undefined;
    expect(referenceRecord?.signatureKey).toBeInstanceOf(Uint8Array);
    expect(parseRecord(DEVICE, ours!.json).signatureKey).toEqual(new Uint8Array(referenceRecord!.signatureKey!));
    expect(parseRecord(DEVICE, ours!.json).signatureKey).toEqual(devices.bob1.device.signature.publicKey);
  });

  it('fail when any byte of the CAR is altered', async () => {
    const { car, args } = await proofFor(devices.bob1);
    // Flip one byte at a time across the whole CAR: each result is a typed refusal, never a
    // verified record. (Some header bytes only change framing; they must still not verify.)
    let refused = 0;
    for (let i = 0; i < car.length; i += Math.max(1, Math.floor(car.length / 97))) {
      const altered = car.slice();
      altered[i]! ^= 0x01;
      const outcome = await verifyRecordProof({ ...args, car: altered }).then(
        (r) => (r ? 'verified' : 'absent'),
        (e: unknown) => (isAtmError(e, 'ProofInvalid') ? 'ProofInvalid' : `untyped: ${String(e)}`),
      );
      expect(outcome, `byte ${i}`).not.toBe('verified');
      expect(outcome, `byte ${i}`).not.toMatch(/^untyped/);
      refused++;
    }
    expect(refused).toBeGreaterThan(50);
  });

  it("fail when checked against another DID's key (a forged signature)", async () => {
    const { car, args } = await proofFor(devices.bob1);
    const aliceKey = (await createIdentityResolver({ plcUrl: net.plcUrl }).resolveDid(alice.did)).signingKey;
    expect(await failure(verifyRecordProof({ ...args, signingKey: aliceKey, car }))).toBe('ProofInvalid');
  });

  it('prove absence for a record that is not in the repo', async () => {
    const rkey = newTid();
    const resolved = await createIdentityResolver({ plcUrl: net.plcUrl }).resolveDid(bob.did);
    const car = await getRecordCar(bob.did, DEVICE_COLLECTION_NSID, rkey);
    expect(
      await verifyRecordProof({ did: bob.did, collection: DEVICE_COLLECTION_NSID, rkey, signingKey: resolved.signingKey, car }),
    ).toBeUndefined();
  });
});
