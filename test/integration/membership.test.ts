import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY, type DeliveryPolicy } from '../../src/engine/delivery-deps';
import type { DeliveryStore, GroupRecord } from '../../src/engine/delivery-state';
import { newTid } from '../../src/engine/tid';
import { decodeGroupState, epoch, epochAuthenticator, members } from '../../src/mls';
import { DEVICE, DEVICE_COLLECTION_NSID, parseRecord, recordJson } from '../../src/protocol/records';
import { toHex } from '../../src/bytes';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';
import { expectUnreadableAfter } from './unreadable';
import { DEFAULT_POOL_POLICY, type PoolPolicy } from '../../src/engine/key-package-pool';

// Membership over time, against the real PLC + PDS: new devices join their owner's groups, revoked devices are
// removed and read nothing after, a removed device can be invited again, and self-updates run on
// schedule (by time, by message count, and right after a last-resort join).

const net = attachNetwork(viInject('network'));
const POLICY = DEFAULT_DELIVERY_POLICY;

interface Peer {
  name: string;
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
  store: DeliveryStore;
  dbName: string;
}

let alice: Account;
let bob: Account;
let carol: Account;
let dave: Account;
let erin: Account;
let frank: Account;

async function peer(name: string, account: Account, policy: Partial<DeliveryPolicy> = {}, pool?: PoolPolicy): Promise<Peer> {
  const agent = await resumeCreationSession(net.pdsUrl, account);
  const device = await startDevice(name, agent, account.did, net.plcUrl, pool);
  const dbName = `membership-${name}-${newTid()}`;
  const { engine, store } = await deliveryEngineFor(device, dbName, policy);
  return { name, account, device, engine, store, dbName };
}

/** Everyone publishes and reads until nothing moves any more (bounded). */
async function settle(peers: readonly Peer[], contacts: string[] = []): Promise<void> {
  for (let round = 0; round < 12; round++) {
    let moved = 0;
    for (const p of peers) moved += (await p.engine.flush()).published.length;
    for (const p of peers) {
      const report = await p.engine.poll(contacts);
      moved += report.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
    }
    if (moved === 0) return;
  }
  throw new Error('did not settle in 12 rounds');
}

const group = async (p: Peer, groupId: string): Promise<GroupRecord> => {
  const g = (await p.engine.groups()).find((x) => x.groupId === groupId);
  if (!g) throw new Error(`${p.name} is not in the group`);
  return g;
};
const texts = async (p: Peer, groupId: string) => (await p.engine.messages(groupId)).map((m) => m.text);
const leafDevices = async (p: Peer, groupId: string) =>
  members(decodeGroupState(p.device.mls, (await group(p, groupId)).state))
    .map((m) => m.identity)
    .sort();
const authenticator = async (p: Peer, groupId: string) =>
  toHex(epochAuthenticator(decodeGroupState(p.device.mls, (await group(p, groupId)).state)));
/**
 * Lets every parent epoch become final for `readers`, so their next commit is allowed (§6.7):
 * the window passes, then each makes the complete read that finality needs.
 */
async function pastFinality(...readers: Peer[]): Promise<void> {
  clock.advance(POLICY.finalityMs + 1);
  for (const p of readers) await p.engine.poll();
}

// Every device is made before the test clock moves: ts-mls checks the lifetime of key packages
// it commits with the system clock, and a package made at a far-advanced test time would not be
// valid yet by it.
let pcsAlice: Peer;
let pcsBob: Peer;
let lrAlice: Peer;
let lrCarol: Peer;

beforeAll(async () => {
  // Separate people per test: a user's other devices in a group change whose turn it is.
  [alice, bob, dave, erin, carol, frank] = (await Promise.all(
    ['alice', 'bob', 'dave', 'erin', 'carol', 'frank'].map((n) => net.createAccount(uniqueName(`m${n}`))),
  )) as [Account, Account, Account, Account, Account, Account];
  pcsAlice = await peer('pcs-dave', dave, { selfUpdateMessages: 3 });
  pcsBob = await peer('pcs-erin', erin, { selfUpdateMessages: 3 });
  lrCarol = await peer('lr-carol', carol, {}, { ...DEFAULT_POOL_POLICY, oneTime: 0, lastResort: 1 });
  lrAlice = await peer('lr-frank', frank);
});

describe('devices of a conversation over time', () => {
  let alice1: Peer;
  let alice2: Peer;
  let bob1: Peer;
  let bob2: Peer;
  let groupId: string;

  beforeAll(async () => {
    alice1 = await peer('alice1', alice);
    bob1 = await peer('bob1', bob);
    groupId = (await alice1.engine.createGroup([bob.did])).groupId;
    await settle([alice1, bob1], [alice.did]);
    await alice1.engine.sendText(groupId, 'before alice2');
    await settle([alice1, bob1]);
  });

  it("a user's new device is added by that user's own device, and reads only what follows", async () => {
    alice2 = await peer('alice2', alice);
    await pastFinality(bob1, alice1);
    // bob is not the owner: alice's own device gets the first turn.
    await bob1.engine.maintain();
    expect(await bob1.engine.flush()).toMatchObject({ published: [] });
    expect(await leafDevices(bob1, groupId)).not.toContain(alice2.device.device.uri);

    await alice1.engine.maintain();
    await settle([alice1, bob1, alice2], [alice.did]);
    expect(await leafDevices(bob1, groupId)).toContain(alice2.device.device.uri);
    // To bob1 the invite to alice2 is an event like any other: parked (§7), and marked as tried
    // with his invite key, so its retries look for a group tag only.
    const parked = await bob1.store.listPending();
    expect(parked.map((p) => p.did)).toContain(alice.did);
    expect(parked.map((p) => p.notOurInvite)).toEqual(parked.map(() => true));
    expect(await authenticator(alice2, groupId)).toBe(await authenticator(bob1, groupId));
    await bob1.engine.sendText(groupId, 'after alice2');
    await settle([alice1, bob1, alice2]);
    expect(await texts(alice2, groupId)).toEqual(['after alice2']);
    expect(await texts(alice1, groupId)).toEqual(['before alice2', 'after alice2']);
  });

  it("another member adds a user's new device once none of that user's devices did", async () => {
    bob2 = await peer('bob2', bob);
    await pastFinality(alice1, alice2);
    // bob1 stays offline. alice1 sees bob2 but leaves it to bob's devices for a while...
    await alice1.engine.maintain();
    expect(await leafDevices(alice1, groupId)).not.toContain(bob2.device.device.uri);
    // ...then takes its turn.
    clock.advance(POLICY.peerAddDelayMs + 2 * POLICY.staggerSlotMs);
    await alice1.engine.maintain();
    await alice2.engine.maintain(); // alice2 only notices bob2 now: its turn is still to come
    await settle([alice1, alice2, bob1, bob2], [alice.did, bob.did]);
    for (const p of [alice1, alice2, bob1, bob2]) {
      expect(await leafDevices(p, groupId)).toContain(bob2.device.device.uri);
      expect(await authenticator(p, groupId)).toBe(await authenticator(alice1, groupId));
    }
  });

  it('a revoked device (record deleted) is removed and cannot decrypt later events', async () => {
    await pastFinality();
    await settle([alice1, alice2, bob1, bob2]);
    await alice1.device.repo.deleteRecord(DEVICE_COLLECTION_NSID, alice2.device.device.rkey);
    // The firehose hint path: the owner's other device reviews alice's devices at once.
    alice1.engine.noteRepoChanged(alice.did, [DEVICE_COLLECTION_NSID]);
    await alice1.engine.maintain();
    const removalRkey = newTid();
    await settle([alice1, alice2, bob1, bob2]);
    expect(await leafDevices(bob1, groupId)).not.toContain(alice2.device.device.uri);
    expect((await group(alice2, groupId)).active).toBe(false);

    const before = await texts(alice2, groupId);
    await bob1.engine.sendText(groupId, 'after the revocation');
    await alice1.engine.sendText(groupId, 'also after');
    await settle([alice1, bob1, bob2]);
    const report = await alice2.engine.poll([alice.did, bob.did]);
    expect(report.outcomes.filter((o) => o.kind === 'message')).toEqual([]);
    expect(await texts(alice2, groupId)).toEqual(before);
    const tried = await expectUnreadableAfter(alice2.device.publicRepos, await group(alice2, groupId), [alice.did, bob.did], removalRkey);
    expect(tried.events).toBeGreaterThanOrEqual(2);
    expect(await texts(bob2, groupId)).toContain('after the revocation');
    // alice2's send fails with a typed error instead of publishing anything.
    await expect(alice2.engine.sendText(groupId, 'from a revoked device')).rejects.toMatchObject({ code: 'NotMember' });
  });

  it('a device whose record now holds another key is removed by the next committer', async () => {
    await pastFinality(bob1);
    const original = parseRecord(
      DEVICE,
      (await bob1.device.publicRepos.listRecords(bob.did, DEVICE_COLLECTION_NSID)).find((r) => r.rkey === bob2.device.device.rkey)!
        .value,
    );
    const otherKey = crypto.getRandomValues(new Uint8Array(32));
    await bob1.device.repo.putRecord(
      DEVICE_COLLECTION_NSID,
      bob2.device.device.rkey,
      recordJson(DEVICE, { ...original, signatureKey: otherKey }),
    );
    bob1.engine.noteRepoChanged(bob.did, [DEVICE_COLLECTION_NSID]);
    await bob1.engine.maintain();
    await settle([alice1, bob1, bob2]);
    expect(await leafDevices(alice1, groupId)).not.toContain(bob2.device.device.uri);
    expect((await group(bob2, groupId)).active).toBe(false);

    // Put back as it was: bob2 is a device of bob again, is invited again, and reads what follows.
    await pastFinality(bob1);
    await bob1.device.repo.putRecord(DEVICE_COLLECTION_NSID, bob2.device.device.rkey, recordJson(DEVICE, original));
    bob1.engine.noteRepoChanged(bob.did, [DEVICE_COLLECTION_NSID]);
    await bob1.engine.maintain();
    await settle([alice1, bob1, bob2], [bob.did]);
    expect((await group(bob2, groupId)).active).toBe(true);
    await alice1.engine.sendText(groupId, 'welcome back');
    await settle([alice1, bob1, bob2]);
    expect(await texts(bob2, groupId)).toContain('welcome back');
    expect(await authenticator(bob2, groupId)).toBe(await authenticator(alice1, groupId));
  });
});

describe('post-compromise security', () => {
  it('each device self-updates after the configured time and after the configured message count', async () => {
    const [a, b] = [pcsAlice, pcsBob];
    const groupId = (await a.engine.createGroup([erin.did])).groupId;
    await settle([a, b], [dave.did]);
    await pastFinality(b);
    const epochOf = async (p: Peer) => epoch(decodeGroupState(p.device.mls, (await group(p, groupId)).state));

    // Not yet due: maintenance commits nothing.
    await b.engine.maintain();
    expect((await b.engine.flush()).published).toEqual([]);
    const start = await epochOf(b);

    // Three messages from b: b's next maintenance refreshes its keys.
    for (const text of ['one', 'two', 'three']) await b.engine.sendText(groupId, text);
    await settle([a, b]);
    await b.engine.maintain();
    await settle([a, b]);
    expect(await epochOf(a)).toBe(start + 1n);
    expect((await group(b, groupId)).sentSinceUpdate).toBe(0);
    expect(await authenticator(a, groupId)).toBe(await authenticator(b, groupId));

    // A week later, with no messages: both devices update, one after the other.
    clock.advance(POLICY.selfUpdateIntervalMs);
    await a.engine.poll();
    await a.engine.maintain();
    await settle([a, b]);
    expect(await epochOf(b)).toBe(start + 2n);
    await pastFinality(b);
    await b.engine.maintain();
    await settle([a, b]);
    expect(await epochOf(a)).toBe(start + 3n);
    expect((await group(b, groupId)).lastPathUpdateAt).toBeGreaterThan((await group(b, groupId)).createdAt);
    expect(await authenticator(a, groupId)).toBe(await authenticator(b, groupId));
  });

  it('a device that joined through its last-resort key package updates as soon as it may commit', async () => {
    const [a, c] = [lrAlice, lrCarol];
    const groupId = (await a.engine.createGroup([carol.did])).groupId;
    await settle([a, c], [frank.did]);
    const joined = await group(c, groupId);
    expect(joined.deferred).toEqual({ kind: 'update' });
    const joinedEpoch = epoch(decodeGroupState(c.device.mls, joined.state));
    // Not before the epoch it joined is final for it too (§6.7)...
    await c.engine.maintain();
    expect((await c.engine.flush()).published).toEqual([]);
    // ...then at once.
    await pastFinality(c);
    await c.engine.maintain();
    await settle([a, c]);
    expect(epoch(decodeGroupState(a.device.mls, (await group(a, groupId)).state))).toBe(joinedEpoch + 1n);
    expect((await group(c, groupId)).deferred).toBeUndefined();
    expect(await authenticator(a, groupId)).toBe(await authenticator(c, groupId));
  });
});
