import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY, type DeliveryPolicy } from '../../src/engine/delivery-deps';
import type { DeliveryStore, GroupRecord } from '../../src/engine/delivery-state';
import { findKeyPackages } from '../../src/engine/key-package-directory';
import { newTid } from '../../src/engine/tid';
import { changeMembers, decodeGroupState, members } from '../../src/mls';
import { decodeWelcomeMessage, encodeWelcomeMessage } from '../../src/mls/messageCodec';
import { sealInvite, tryOpenInvite } from '../../src/protocol/invite';
import { DEVICE, DEVICE_COLLECTION_NSID, EVENT, EVENT_COLLECTION_NSID, parseRecord, recordJson } from '../../src/protocol/records';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';

// Insiders: members who run a modified client. Each attack is played by the test itself with
// the attacker's real keys and states, over the real local PLC + PDS, against honest devices
// that run the engine unchanged.

const net = attachNetwork(viInject('network'));
const POLICY = DEFAULT_DELIVERY_POLICY;

interface Peer {
  name: string;
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
  store: DeliveryStore;
}

async function peer(name: string, account: Account, policy: Partial<DeliveryPolicy> = {}): Promise<Peer> {
  const agent = await resumeCreationSession(net.pdsUrl, account);
  const device = await startDevice(name, agent, account.did, net.plcUrl);
  const { engine, store } = await deliveryEngineFor(device, `insiders-${name}-${newTid()}`, policy);
  return { name, account, device, engine, store };
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
const pastFinality = () => clock.advance(POLICY.finalityMs + 1);

/** Publishes an event record in `author`'s repo, as a modified client would. */
async function publishEvent(author: Peer, sealed: { tag: Uint8Array; ciphertext: Uint8Array }): Promise<string> {
  const rkey = newTid();
  await author.device.repo.putRecord(EVENT_COLLECTION_NSID, rkey, recordJson(EVENT, EVENT.$build(sealed)));
  return rkey;
}

/** The Welcomes sealed to `invitee` in `author`'s repo, as the invitee would open them. */
async function welcomesFor(invitee: Peer, author: Peer): Promise<{ welcome: Uint8Array; ratchetTree: Uint8Array }[]> {
  const out = [];
  for (const raw of await invitee.device.publicRepos.listRecords(author.account.did, EVENT_COLLECTION_NSID, { max: 100 })) {
    const event = parseRecord(EVENT, raw.value, raw.uri);
    if (!event.ciphertext) continue;
    const opened = await tryOpenInvite(invitee.device.device.invite.privateKey, event.tag, event.ciphertext);
    if (opened?.kind === 'direct') out.push({ welcome: opened.welcome, ratchetTree: opened.ratchetTree });
  }
  return out;
}

describe('a Welcome replayed by the inviter', () => {
  // alice is the attacker. She invites bob1, keeps the group's epoch-1 state, and once bob1 has
  // been removed, tries to put him back into the past: with her original Welcome re-encoded,
  // and with a new Welcome made on her old state for another of bob1's key packages.
  let alice1: Peer;
  let bob1: Peer;
  let groupId: string;
  let pastState: Uint8Array;
  let original: { welcome: Uint8Array; ratchetTree: Uint8Array };

  beforeAll(async () => {
    const [alice, bob] = (await Promise.all(['alice', 'bob'].map((n) => net.createAccount(uniqueName(`ins-w-${n}`))))) as [
      Account,
      Account,
    ];
    alice1 = await peer('w-alice1', alice);
    bob1 = await peer('w-bob1', bob);
    groupId = (await alice1.engine.createGroup([bob.did])).groupId;
    await settle([alice1, bob1], [alice.did]);
    expect((await group(bob1, groupId)).active).toBe(true);
    pastState = (await group(alice1, groupId)).state;
    [original] = (await welcomesFor(bob1, alice1)) as [typeof original];

    // bob1 is removed: its record holds another key for a while (then is put back, so the
    // Authentication Service would accept bob1's leaf again in any Welcome).
    const record = (await bob1.device.publicRepos.listRecords(bob.did, DEVICE_COLLECTION_NSID)).find(
      (r) => r.rkey === bob1.device.device.rkey,
    )!;
    const value = parseRecord(DEVICE, record.value);
    await bob1.device.repo.putRecord(
      DEVICE_COLLECTION_NSID,
      bob1.device.device.rkey,
      recordJson(DEVICE, { ...value, signatureKey: crypto.getRandomValues(new Uint8Array(32)) }),
    );
    bob1.device.as.forget(bob.did);
    alice1.device.as.forget(bob.did);
    pastFinality();
    alice1.engine.noteRepoChanged(bob.did, [DEVICE_COLLECTION_NSID]);
    await alice1.engine.maintain();
    clock.advance(4 * POLICY.staggerSlotMs);
    await alice1.engine.maintain();
    await settle([alice1, bob1]);
    expect((await group(bob1, groupId)).active).toBe(false);
    await bob1.device.repo.putRecord(DEVICE_COLLECTION_NSID, bob1.device.device.rkey, recordJson(DEVICE, value));
    bob1.device.as.forget(bob.did);
  });

  it('re-encoded, it is the same Welcome and is refused', async () => {
    const decoded = decodeWelcomeMessage(original.welcome);
    const first = decoded.secrets[0]!;
    const stranger = { ...first, newMember: crypto.getRandomValues(new Uint8Array(first.newMember.length)) };
    const reencoded = encodeWelcomeMessage({ ...decoded, secrets: [...decoded.secrets, stranger] });
    await publishEvent(alice1, await sealInvite(bob1.device.device.invite.publicKey, reencoded, original.ratchetTree));

    const epochBefore = (await group(bob1, groupId)).current.epoch;
    const report = await bob1.engine.poll([alice1.account.did]);
    expect(report.outcomes.filter((o) => o.kind === 'joined')).toEqual([]);
    expect(report.outcomes).toContainEqual({ kind: 'rejected', code: 'WelcomeReplayed', groupId: undefined });
    const after = await group(bob1, groupId);
    expect(after.active).toBe(false);
    expect(after.current.epoch).toBe(epochBefore);
  });

  it('made anew on an old epoch, for another key package of the same device, it is refused', async () => {
    const past = decodeGroupState(alice1.device.mls, pastState);
    const oldLeaf = members(past).find((m) => m.identity === bob1.device.device.uri)!.leafIndex;
    const found = await findKeyPackages(alice1.device, bob1.account.did);
    const fresh = found.keyPackages.find((k) => k.device === bob1.device.device.rkey && !k.lastResort)!;
    const made = await changeMembers(alice1.device.mls, past, { add: [fresh.keyPackage], remove: [oldLeaf] });
    await publishEvent(alice1, await sealInvite(bob1.device.device.invite.publicKey, made.welcome!, made.ratchetTree!));

    const before = await group(bob1, groupId);
    // The Welcome is for the epoch bob1's removal made (bob1 keeps the state it was removed on).
    expect(made.newState.groupContext.epoch).toBe(BigInt(before.current.epoch) + 1n);
    const report = await bob1.engine.poll([alice1.account.did]);
    expect(report.outcomes.filter((o) => o.kind === 'joined')).toEqual([]);
    expect(report.outcomes).toContainEqual({ kind: 'rejected', code: 'WelcomeReplayed', groupId: undefined });
    const after = await group(bob1, groupId);
    expect(after.active).toBe(false);
    expect(after.current.epoch).toBe(before.current.epoch);
  });
});
