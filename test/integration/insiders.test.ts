import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import { cachedConversationMembers, chatClient } from '../../src/atproto/chat';
import { chatAgent } from '../../src/atproto/session';
import { toHex } from '../../src/bytes';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY, type DeliveryPolicy } from '../../src/engine/delivery-deps';
import type { DeliveryStore, GroupRecord } from '../../src/engine/delivery-state';
import { findKeyPackages } from '../../src/engine/key-package-directory';
import { rankBeforeBytes } from '../../src/engine/commit-rank';
import { newTid } from '../../src/engine/tid';
import { epochRecordFor } from '../../src/engine/epochs';
import { changeMembers, decodeGroupState, epochAuthenticator, members, removeMembers, selfUpdate, type GroupState } from '../../src/mls';
import { openEventMessage, sealEnvelope } from '../../src/protocol/envelope';
import { eventTag } from '../../src/protocol/tags';
import { decodeWelcomeMessage, encodeWelcomeMessage } from '../../src/mls/messageCodec';
import { sealInvite, tryOpenInvite } from '../../src/protocol/invite';
import { DEVICE, DEVICE_COLLECTION_NSID, EVENT, EVENT_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID, parseRecord, recordJson } from '../../src/protocol/records';
import { chatAsAccount, resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';
import { expectUnreadableAfter } from './unreadable';
import { mulberry32 } from '../fuzz/lib/prng';

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

const chatProxy = () => `${net.chat.did}#bsky_chat`;

/**
 * A device that asks the chat stand-in (through the PDS proxy) who is in a conversation, as the
 * extension does; or, given `heedless`, a modified client that takes those people to be the
 * conversation whatever the chat service says (it removes nobody, and sends and commits anyway).
 */
async function convoPeer(name: string, account: Account, policy: Partial<DeliveryPolicy> = {}, heedless?: string[]): Promise<Peer> {
  const agent = await resumeCreationSession(net.pdsUrl, account);
  const device = await startDevice(name, agent, account.did, net.plcUrl);
  const members = cachedConversationMembers(chatClient(chatAgent({ chatProxy: chatProxy() }, agent)), clock);
  const dids = async (id: string, options?: { fresh?: boolean }) => heedless ?? [...(await members(id, options))];
  const { engine, store } = await deliveryEngineFor(device, `insiders-${name}-${newTid()}`, policy, {
    conversationDids: dids,
  });
  return { name, account, device, engine, store };
}

/** A bsky group conversation made by `owner` with the others, on the chat stand-in. */
async function chatGroup(owner: Account, others: Account[]): Promise<string> {
  const chat = await chatAsAccount(net.pdsUrl, owner, chatProxy());
  const convo = await chat.chat.bsky.group.createGroup({ members: others.map((a) => a.did), name: 'insiders' });
  return convo.data.convo.id;
}

async function removeFromChat(owner: Account, convoId: string, removed: Account[]): Promise<void> {
  const chat = await chatAsAccount(net.pdsUrl, owner, chatProxy());
  await chat.chat.bsky.group.removeMembers({ convoId, members: removed.map((a) => a.did) });
}

const authenticator = async (p: Peer, groupId: string) =>
  toHex(epochAuthenticator(decodeGroupState(p.device.mls, (await group(p, groupId)).state)));

/**
 * An MLS message sealed as an event of `leaf` in the epoch of `state`, with the tag counter
 * `counter` (the attacker's own bookkeeping), as a modified client would publish it.
 */
async function sealAs(mls: TestDevice['mls'], state: GroupState, leaf: number, counter: number, message: Uint8Array) {
  const keys = await epochRecordFor(mls, state);
  const tag = await eventTag(keys.tagKey, leaf, counter);
  return { tag, ciphertext: await sealEnvelope(keys.envelopeKey, tag, message) };
}

/** The MLS messages `reader` can open in `author`'s repo with the keys of `state`'s epoch. */
async function openedIn(
  reader: Peer,
  author: Account,
  state: GroupState,
): Promise<{ rkey: string; message: Uint8Array; contentType: string }[]> {
  const keys = await epochRecordFor(reader.device.mls, state);
  const out = [];
  for (const raw of await reader.device.publicRepos.listRecords(author.did, EVENT_COLLECTION_NSID, { max: 100 })) {
    const event = parseRecord(EVENT, raw.value, raw.uri);
    if (!event.ciphertext) continue;
    try {
      const opened = await openEventMessage(
        { envelopeKey: keys.envelopeKey, groupId: state.groupContext.groupId, epoch: state.groupContext.epoch },
        event.tag,
        event.ciphertext,
      );
      out.push({ rkey: raw.rkey, message: opened.message, contentType: opened.contentType });
    } catch {
      // another epoch's event, or an invite
    }
  }
  return out;
}

/** The device identities of the leaves of a group as `p` holds it. */
const leafIdentities = (p: Peer, g: GroupRecord) => members(decodeGroupState(p.device.mls, g.state)).map((m) => m.identity);
const leafOfIn = (state: GroupState, p: Peer) => members(state).find((m) => m.identity === p.device.device.uri)!.leafIndex;

const sha256 = async (bytes: Uint8Array) =>
  toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));

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
/** The window passes, and `readers` make the complete read that finality needs (§6.7). */
async function pastFinality(...readers: Peer[]): Promise<void> {
  clock.advance(POLICY.finalityMs + 1);
  for (const p of readers) await p.engine.poll();
}

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

// Devices whose key packages are used after the test clock has moved on are made first:
// ts-mls checks key-package lifetimes with the system clock, and packages are backdated by only
// an hour. alice's second browsers are made now and "sign in" later, when their device records
// are put back.
let lateAlice: Account;
let lateBob: Account;
let lateMal: Account;
let lateAlice2: Peer;
let lateAlice2Record: unknown;
let addAlice: Account;
let addAlice2: Peer;
let addAlice2Record: unknown;
/** The random schedules' people and devices (they re-add carol's device: its packages too). */
let rnd: { accounts: Record<'alice' | 'bob' | 'dave' | 'carol', Account>; honest: Peer[]; carol1: Peer };
beforeAll(async () => {
  const [ra, rb, rd, rc] = (await Promise.all(['alice', 'bob', 'dave', 'carol'].map((n) => net.createAccount(uniqueName(`rnd-${n}`))))) as [
    Account,
    Account,
    Account,
    Account,
  ];
  rnd = {
    accounts: { alice: ra, bob: rb, dave: rd, carol: rc },
    honest: await Promise.all([convoPeer('rnd-alice1', ra), convoPeer('rnd-bob1', rb), convoPeer('rnd-dave1', rd)]),
    carol1: await convoPeer('rnd-carol1', rc),
  };
  addAlice = await net.createAccount(uniqueName('ins-a-alice'));
  addAlice2 = await convoPeer('a-alice2', addAlice);
  const addRkey = addAlice2.device.device.rkey;
  addAlice2Record = (await addAlice2.device.publicRepos.listRecords(addAlice.did, DEVICE_COLLECTION_NSID)).find((r) => r.rkey === addRkey)!.value;
  await addAlice2.device.repo.deleteRecord(DEVICE_COLLECTION_NSID, addRkey);
  [lateAlice, lateBob, lateMal] = (await Promise.all(['alice', 'bob', 'mal'].map((n) => net.createAccount(uniqueName(`ins-n-${n}`))))) as [
    Account,
    Account,
    Account,
  ];
  lateAlice2 = await convoPeer('n-alice2', lateAlice);
  const rkey = lateAlice2.device.device.rkey;
  lateAlice2Record = (await lateAlice2.device.publicRepos.listRecords(lateAlice.did, DEVICE_COLLECTION_NSID)).find((r) => r.rkey === rkey)!.value;
  await lateAlice2.device.repo.deleteRecord(DEVICE_COLLECTION_NSID, rkey);
});

describe('an invite to a group that is not a conversation we share', () => {
  // bob's modified client makes groups as it likes and invites alice's device into them.
  it('is refused before it is joined, whether the group names no conversation or one alice is not in', async () => {
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-j-${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    const alice1 = await convoPeer('j-alice1', alice);
    const bob1 = await peer('j-bob1', bob);
    const theirs = await chatGroup(bob, [carol]);
    const keyPackagesBefore = (await alice1.device.publicRepos.listRecords(alice.did, KEY_PACKAGE_COLLECTION_NSID)).length;

    for (const convoId of [undefined, theirs]) {
      const made = await bob1.engine.createGroup([alice.did], convoId);
      await bob1.engine.flush();
      const report = await alice1.engine.poll([bob.did]);
      expect(report.outcomes, `group for ${convoId ?? 'no conversation'}`).toContainEqual({
        kind: 'rejected',
        code: 'NotMember',
        groupId: undefined,
      });
      expect((await alice1.engine.groups()).map((g) => g.groupId)).not.toContain(made.groupId);
    }
    // Nothing of alice's was spent on them: her key packages are all still published.
    expect((await alice1.device.publicRepos.listRecords(alice.did, KEY_PACKAGE_COLLECTION_NSID)).length).toBe(keyPackagesBefore);
  });
});

describe('a group of a conversation this device is no longer in', () => {
  it("is left: its state and keys are deleted, its members' repos no longer read for it, its history kept", async () => {
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-l-${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    const [alice1, bob1, carol1] = await Promise.all([convoPeer('l-alice1', alice), convoPeer('l-bob1', bob), convoPeer('l-carol1', carol)]);
    const convoId = await chatGroup(alice, [bob, carol]);
    const groupId = (await alice1.engine.createGroup([bob.did, carol.did], convoId)).groupId;
    await settle([alice1, bob1, carol1], [alice.did]);
    for (const p of [alice1, bob1, carol1]) await p.engine.maintain();
    await alice1.engine.sendText(groupId, 'before carol left');
    await settle([alice1, bob1, carol1]);
    expect((await group(carol1, groupId)).state.length).toBeGreaterThan(0);

    // carol leaves the conversation on bsky.app; once her device's member list is renewed (5
    // minutes), its next maintenance leaves the group.
    const chat = await chatAsAccount(net.pdsUrl, carol, chatProxy());
    await chat.chat.bsky.convo.leaveConvo({ convoId });
    await carol1.engine.maintain();
    expect((await group(carol1, groupId)).active, 'not on a cached list').toBe(true);
    clock.advance(5 * 60_000 + 1);
    await carol1.engine.maintain();
    const left = await group(carol1, groupId);
    expect(left).toMatchObject({ active: false, memberDids: [], retained: [] });
    expect(left.leftAt).toBeDefined();
    expect(left.state).toHaveLength(0);
    expect(left.parent).toBeUndefined();
    expect((await carol1.engine.messages(groupId)).map((m) => m.text)).toEqual(['before carol left']);
    expect(await carol1.engine.conversationGroup(convoId)).toBeUndefined();
    // Reading on changes nothing (no key is left to open anything with), and bob, still in the
    // conversation, keeps his group.
    await alice1.engine.sendText(groupId, 'after carol left');
    await settle([alice1, bob1, carol1]);
    expect((await carol1.engine.messages(groupId)).map((m) => m.text)).toEqual(['before carol left']);
    expect((await group(bob1, groupId)).active).toBe(true);
  });
});

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
    await pastFinality(alice1);
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

describe('a device that was just revoked', () => {
  // bob revokes bob2 (a lost laptop, say) from bob1; whoever holds bob2 commits at once, while
  // alice1 still holds a cached proof of bob2 from the group's creation a moment ago.
  it('cannot commit: its commit is refused on a fresh proof', async () => {
    const [alice, bob] = (await Promise.all(['alice', 'bob'].map((n) => net.createAccount(uniqueName(`ins-r-${n}`))))) as [
      Account,
      Account,
    ];
    const alice1 = await peer('r-alice1', alice);
    const bob1 = await peer('r-bob1', bob);
    const bob2 = await peer('r-bob2', bob);
    const groupId = (await alice1.engine.createGroup([bob.did])).groupId;
    await settle([alice1, bob1, bob2], [alice.did]);
    const before = (await group(alice1, groupId)).current.epoch;

    await bob1.device.repo.deleteRecord(DEVICE_COLLECTION_NSID, bob2.device.device.rkey);
    // Whoever holds bob2 runs a modified client: it commits at once, neither waiting for its
    // epoch to be final nor heeding its revocation.
    const held = await group(bob2, groupId);
    const state = decodeGroupState(bob2.device.mls, held.state);
    const leaf = members(state).find((m) => m.identity === bob2.device.device.uri)!.leafIndex;
    const update = await selfUpdate(bob2.device.mls, state);
    await publishEvent(bob2, await sealAs(bob2.device.mls, state, leaf, held.current.nextCounter, update.commit));

    const report = await alice1.engine.poll([bob.did]);
    expect(report.outcomes).toContainEqual({ kind: 'rejected', code: 'UntrustedCredential', groupId });
    expect((await group(alice1, groupId)).current.epoch).toBe(before);
  });
});

describe('a member removed from the conversation', () => {
  // carol is removed from the bsky conversation and alice1 commits her removal (W, on epoch E).
  // carol still holds epoch E's state and keys, and runs a modified client.
  let alice: Account;
  let bob: Account;
  let carol: Account;
  let alice1: Peer;
  let bob1: Peer;
  let carol1: Peer;
  let groupId: string;
  let stateE: GroupState;
  let counterE: number;
  let removal: { rkey: string; message: Uint8Array };
  let afterRemoval: string;

  const leafOf = (p: Peer) => members(stateE).find((m) => m.identity === p.device.device.uri)!.leafIndex;

  beforeAll(async () => {
    [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-g-${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    [alice1, bob1, carol1] = await Promise.all([convoPeer('g-alice1', alice), convoPeer('g-bob1', bob), convoPeer('g-carol1', carol)]);
    const convoId = await chatGroup(alice, [bob, carol]);
    groupId = (await alice1.engine.createGroup([bob.did, carol.did], convoId)).groupId;
    await settle([alice1, bob1, carol1], [alice.did]);
    await pastFinality();
    const carolGroup = await group(carol1, groupId);
    stateE = decodeGroupState(carol1.device.mls, carolGroup.state);
    counterE = carolGroup.current.nextCounter;

    await removeFromChat(alice, convoId, [carol]);
    await pastFinality(alice1); // the member lists the devices keep (5 minutes) are stale now
    // alice1 alone commits the removal, at its turn.
    for (let i = 0; i < 4; i++) {
      await alice1.engine.maintain();
      clock.advance(POLICY.staggerSlotMs);
    }
    await settle([alice1, bob1]);
    expect((await group(bob1, groupId)).memberDids).not.toContain(carol.did);
    afterRemoval = newTid();
    await alice1.engine.sendText(groupId, 'after carol left');
    await settle([alice1, bob1]);
    const opened = await openedIn(carol1, alice, stateE);
    expect(opened).toHaveLength(1);
    removal = opened[0]!;
  });

  it('cannot win the commit race by grinding, and reads nothing sent after her removal', async () => {
    // carol re-makes her self-update on epoch E until its bytes hash below the removal's.
    const target = await sha256(removal.message);
    let ground: Awaited<ReturnType<typeof selfUpdate>> | undefined;
    for (let i = 0; i < 64 && !ground; i++) {
      const attempt = await selfUpdate(carol1.device.mls, stateE);
      if ((await sha256(attempt.commit)) < target) ground = attempt;
    }
    expect(ground, 'a ground commit within 64 tries').toBeDefined();
    const before = await authenticator(alice1, groupId);
    await publishEvent(carol1, await sealAs(carol1.device.mls, stateE, leafOf(carol1), counterE, ground!.commit));
    // alice and bob still read carol's repo (she is a contact of theirs elsewhere, say).
    await settle([alice1, bob1], [carol.did]);

    expect(await authenticator(alice1, groupId)).toBe(before);
    expect(await authenticator(bob1, groupId)).toBe(before);
    // With every key carol could hold, epoch E's and the one her own commit would start,
    // nothing alice or bob published after the removal opens.
    for (const state of [stateE, ground!.newState]) {
      for (const author of [alice, bob]) {
        expect((await openedIn(carol1, author, state)).filter((o) => o.rkey > removal.rkey)).toEqual([]);
      }
    }
    const tried = await expectUnreadableAfter(carol1.device.publicRepos, await group(carol1, groupId), [alice.did, bob.did], afterRemoval);
    expect(tried.events).toBeGreaterThanOrEqual(1);
  });

  it('cannot make her commit win by removing everyone else: her commit is refused', async () => {
    // Two removals outrank the one of W: only the check that the committer is in the
    // conversation refuses it.
    const attempt = await removeMembers(carol1.device.mls, stateE, [leafOf(alice1), leafOf(bob1)]);
    const before = await authenticator(alice1, groupId);
    await publishEvent(carol1, await sealAs(carol1.device.mls, stateE, leafOf(carol1), counterE + 1, attempt.commit));
    const report = await alice1.engine.poll([carol.did]);
    expect(report.outcomes).toContainEqual({ kind: 'rejected', code: 'NotMember', groupId });
    await settle([alice1, bob1], [carol.did]);
    expect((await group(alice1, groupId)).active).toBe(true);
    expect(await authenticator(alice1, groupId)).toBe(before);
    expect(await authenticator(bob1, groupId)).toBe(before);
  });
});

describe('a message written right after someone left', () => {
  it('waits for their removal, then goes out: the one who left never reads it, though every cached member list still had her', async () => {
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-h-${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    const [alice1, bob1, carol1] = await Promise.all([convoPeer('h-alice1', alice), convoPeer('h-bob1', bob), convoPeer('h-carol1', carol)]);
    const all = [alice1, bob1, carol1];
    const convoId = await chatGroup(alice, [bob, carol]);
    const groupId = (await alice1.engine.createGroup([bob.did, carol.did], convoId)).groupId;
    await settle(all, [alice.did]);
    await pastFinality(...all);
    for (const p of all) await p.engine.maintain(); // member lists asked just now: cached for minutes
    await alice1.engine.sendText(groupId, 'while carol is here');
    await settle(all);

    await removeFromChat(alice, convoId, [carol]);
    const afterLeaving = newTid();
    const held = await alice1.engine.sendText(groupId, 'right after carol left');
    expect(held.status).toBe('sending');
    expect((await alice1.engine.flush()).published, 'nothing goes out while carol holds a leaf').toEqual([]);

    // alice's device learned it from the send: it commits carol's removal at its turn, and the
    // message follows, on the epoch carol cannot derive.
    for (let slot = 0; slot < 4; slot++) {
      await alice1.engine.maintain();
      await alice1.engine.flush();
      clock.advance(POLICY.staggerSlotMs);
    }
    await settle(all, [alice.did]);
    expect((await group(bob1, groupId)).memberDids).not.toContain(carol.did);
    const texts = async (p: Peer) => (await p.engine.messages(groupId)).map((m) => m.text);
    expect(await texts(bob1)).toContain('right after carol left');
    expect((await alice1.engine.messages(groupId)).find((m) => m.text === 'right after carol left')?.status).toBe('sent');
    // carol's device: nothing new stored, and nothing alice or bob published after the removal
    // commit (alice's first event since carol left; carol opens that one: it is how she learns)
    // opens with any key she holds.
    expect(await texts(carol1)).toEqual(['while carol is here']);
    const since = await alice1.device.publicRepos.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, afterLeaving, 100);
    const removalCommit = since.records[0]!.rkey;
    const tried = await expectUnreadableAfter(carol1.device.publicRepos, await group(carol1, groupId), [alice.did, bob.did], removalCommit);
    expect(tried.events).toBeGreaterThanOrEqual(1);
  });
});

describe('someone leaves right after a new device was added', () => {
  it('the removal waits for the add to be final instead of stranding the new device, and nothing reaches her meanwhile', async () => {
    const alice = addAlice;
    const [bob, carol] = (await Promise.all(['bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-a-${n}`))))) as [Account, Account];
    const [alice1, bob1, carol1] = await Promise.all([convoPeer('a-alice1', alice), convoPeer('a-bob1', bob), convoPeer('a-carol1', carol)]);
    const alice2 = addAlice2;
    const convoId = await chatGroup(alice, [bob, carol]);
    const groupId = (await alice1.engine.createGroup([bob.did, carol.did], convoId)).groupId;
    await settle([alice1, bob1, carol1], [alice.did]);
    await pastFinality(alice1, bob1, carol1);

    // alice's second browser signs in: alice1 adds it at once (its own turn, on a hint).
    await alice2.device.repo.putRecord(DEVICE_COLLECTION_NSID, alice2.device.device.rkey, addAlice2Record);
    alice1.engine.noteRepoChanged(alice.did, [DEVICE_COLLECTION_NSID]);
    await alice1.engine.maintain();
    const everyone = [alice1, alice2, bob1, carol1];
    await settle(everyone, [alice.did]);
    expect((await group(alice2, groupId)).active).toBe(true);

    // carol leaves while that add waits to become final. alice writes at once: held.
    await removeFromChat(alice, convoId, [carol]);
    const afterLeaving = newTid();
    expect((await alice1.engine.sendText(groupId, 'after carol left')).status).toBe('sending');
    const online = [alice1, alice2, bob1];
    for (let t = 0; t < POLICY.finalityMs + 4 * POLICY.staggerSlotMs; t += 10_000) {
      for (const p of online) await p.engine.poll([alice.did]);
      for (const p of online) {
        await p.engine.maintain();
        await p.engine.flush();
      }
      await carol1.engine.poll([alice.did]);
      clock.advance(10_000);
    }
    await settle(everyone, [alice.did]);
    const views = new Set(await Promise.all(online.map((p) => authenticator(p, groupId))));
    expect(views.size, "alice's new device is on the branch everyone is on").toBe(1);
    expect((await group(bob1, groupId)).memberDids).not.toContain(carol.did);
    for (const p of [alice2, bob1]) expect((await p.engine.messages(groupId)).map((m) => m.text)).toContain('after carol left');
    expect((await carol1.engine.messages(groupId)).map((m) => m.text)).not.toContain('after carol left');
    const since = await alice1.device.publicRepos.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, afterLeaving, 100);
    const removalCommit = since.records[0]!.rkey;
    const tried = await expectUnreadableAfter(carol1.device.publicRepos, await group(carol1, groupId), [alice.did, bob.did], removalCommit);
    expect(tried.events).toBeGreaterThanOrEqual(1);
  });
});

describe('a member who commits as fast as it can (a staller)', () => {
  it('does not hold back the removal of someone who left: it lands within the stated bound', async () => {
    const [alice, bob, carol, mal] = (await Promise.all(
      ['alice', 'bob', 'carol', 'mal'].map((n) => net.createAccount(uniqueName(`ins-s-${n}`))),
    )) as [Account, Account, Account, Account];
    const honest = await Promise.all([convoPeer('s-alice1', alice), convoPeer('s-bob1', bob), convoPeer('s-carol1', carol)]);
    // mal's client treats every epoch as final at once, is always due for a self-update, and
    // removes nobody: it commits an empty commit at every tick.
    const everyone = [alice, bob, carol, mal].map((a) => a.did);
    const mal1 = await convoPeer('s-mal1', mal, { finalityMs: 1, selfUpdateIntervalMs: 1 }, everyone);
    const [alice1, bob1] = honest as [Peer, Peer, Peer];
    const convoId = await chatGroup(alice, [bob, carol, mal]);
    const groupId = (await alice1.engine.createGroup([bob.did, carol.did, mal.did], convoId)).groupId;
    await settle([...honest, mal1], [alice.did]);
    await pastFinality();

    await removeFromChat(alice, convoId, [carol]);
    // From here every device's member list is stale within 5 minutes; the bound is counted
    // from when the honest devices can know (their lists have expired). They are online: they
    // read every minute meanwhile, as the delivery runner does.
    for (let minute = 0; minute < 5; minute++) {
      clock.advance(60_000);
      for (const p of honest) await p.engine.poll();
    }
    const start = clock.now();
    const TICK = 5_000;
    // The stated bound (docs/protocol.md §6.7): a review interval, then a turn for each leaf.
    const BOUND = POLICY.membershipReviewMs + 4 * POLICY.staggerSlotMs;
    let landedAfter: number | undefined;
    let stallerCommits = 0;
    while (clock.now() - start <= BOUND + 4 * TICK) {
      await mal1.engine.maintain();
      stallerCommits += (await mal1.engine.flush()).published.length;
      for (const p of [alice1, bob1]) await p.engine.poll();
      for (const p of [alice1, bob1]) {
        await p.engine.maintain();
        await p.engine.flush();
      }
      for (const p of [alice1, bob1]) await p.engine.poll();
      await mal1.engine.poll();
      const views = await Promise.all([alice1, bob1].map((p) => group(p, groupId)));
      if (views.every((g) => !g.memberDids.includes(carol.did))) {
        landedAfter = clock.now() - start;
        break;
      }
      clock.advance(TICK);
    }
    expect(stallerCommits).toBeGreaterThan(0);
    expect(landedAfter, 'the removal landed').toBeDefined();
    expect(landedAfter!).toBeLessThanOrEqual(BOUND);
    expect(await authenticator(alice1, groupId)).toBe(await authenticator(bob1, groupId));
  });
});

describe('a staller and a new device', () => {
  it("does not hold back a user's new device: it is in the group within a minute of signing in", async () => {
    const [alice, bob, mal] = [lateAlice, lateBob, lateMal];
    const alice1 = await convoPeer('n-alice1', alice);
    const bob1 = await convoPeer('n-bob1', bob);
    const everyone = [alice, bob, mal].map((a) => a.did);
    const mal1 = await convoPeer('n-mal1', mal, { finalityMs: 1, selfUpdateIntervalMs: 1 }, everyone);
    const honest = [alice1, bob1];
    const convoId = await chatGroup(alice, [bob, mal]);
    const groupId = (await alice1.engine.createGroup([bob.did, mal.did], convoId)).groupId;
    await settle([...honest, mal1], [alice.did]);
    await pastFinality(...honest, mal1);

    // alice signs in on a second browser: its device record appears, and the firehose tells
    // alice1 (the delivery runner passes the hint on).
    await lateAlice2.device.repo.putRecord(DEVICE_COLLECTION_NSID, lateAlice2.device.device.rkey, lateAlice2Record);
    alice1.engine.noteRepoChanged(alice.did, [DEVICE_COLLECTION_NSID]);
    const start = clock.now();
    const TICK = 5_000;
    let inAfter: number | undefined;
    let stallerCommits = 0;
    while (clock.now() - start <= 2 * 60_000) {
      await mal1.engine.maintain();
      stallerCommits += (await mal1.engine.flush()).published.length;
      for (const p of honest) await p.engine.poll();
      for (const p of honest) {
        await p.engine.maintain();
        await p.engine.flush();
      }
      for (const p of honest) await p.engine.poll();
      await mal1.engine.poll();
      await lateAlice2.engine.poll([alice.did]);
      const joined = (await lateAlice2.engine.groups()).find((g) => g.groupId === groupId);
      const views = await Promise.all(honest.map(async (p) => leafIdentities(p, await group(p, groupId))));
      if (joined?.active && views.every((ids) => ids.includes(lateAlice2.device.device.uri))) {
        inAfter = clock.now() - start;
        break;
      }
      clock.advance(TICK);
    }
    expect(stallerCommits).toBeGreaterThan(0);
    expect(inAfter, 'the new device joined').toBeDefined();
    expect(inAfter!).toBeLessThanOrEqual(60_000);
    expect(await authenticator(lateAlice2, groupId)).toBe(await authenticator(alice1, groupId));
  });
});

describe('finality decided by reading, not by the clock', () => {
  it('a device that slept through the window reads the better commit before deciding, and stays with the others', async () => {
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`ins-f-${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    const [alice1, bob1, carol1] = await Promise.all([peer('f-alice1', alice), peer('f-bob1', bob), peer('f-carol1', carol)]);
    const all = [alice1, bob1, carol1];
    const groupId = (await alice1.engine.createGroup([bob.did, carol.did])).groupId;
    await settle(all, [alice.did]);
    await pastFinality(...all);
    // bob and carol self-update on the same epoch E, neither having read the other's.
    const stateE = decodeGroupState(alice1.device.mls, (await group(alice1, groupId)).state);
    const epochE = (await group(alice1, groupId)).current.epoch;
    const seat = (p: Peer) =>
      rankBeforeBytes({ groupId, epoch: epochE, committerLeaf: leafOfIn(stateE, p), removed: 0, added: 0 });
    const [better, worse] = (await seat(bob1)) < (await seat(carol1)) ? [bob1, carol1] : [carol1, bob1];
    for (const p of [better, worse]) {
      await p.engine.selfUpdate(groupId);
      await p.engine.flush();
    }
    // alice reads only the worse one (the better one's repo answered later), then sleeps
    // through the window: no read for ten minutes.
    await alice1.engine.poll([], { only: [worse.account.did] });
    clock.advance(10 * 60_000);
    // Woken, the runner's first maintenance comes before its read: it must not decide yet.
    await alice1.engine.maintain();
    await settle(all);
    await pastFinality(...all);
    for (const p of all) await p.engine.maintain();
    await settle(all);
    const views = new Set(await Promise.all(all.map((p) => authenticator(p, groupId))));
    expect(views.size, 'alice is on the branch bob and carol are on').toBe(1);
  });

  it('a device back from being offline does not commit beside a winner it applies late (§6.7 rule 5)', async () => {
    const [alice, bob, carol, dave] = (await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((n) => net.createAccount(uniqueName(`ins-o-${n}`))),
    )) as [Account, Account, Account, Account];
    const [alice1, bob1, carol1, dave1] = await Promise.all(
      [['o-alice1', alice], ['o-bob1', bob], ['o-carol1', carol], ['o-dave1', dave]].map(([n, a]) =>
        // alice's turns come at once: whatever her seat, she would commit within the window.
        convoPeer(n as string, a as Account, n === 'o-alice1' ? { staggerSlotMs: 1 } : {}),
      ),
    );
    const all = [alice1!, bob1!, carol1!, dave1!];
    const convoId = await chatGroup(alice, [bob, carol, dave]);
    const groupId = (await alice1!.engine.createGroup([bob.did, carol.did, dave.did], convoId)).groupId;
    await settle(all, [alice.did]);
    await pastFinality(...all);
    // bob self-updates (W on epoch E) and carol leaves the conversation. bob and dave read
    // every minute, so W is final for them three minutes on (they leave carol's removal to
    // alice here: they only read); alice is offline meanwhile.
    await bob1!.engine.selfUpdate(groupId);
    await bob1!.engine.flush();
    await removeFromChat(alice, convoId, [carol]);
    for (let minute = 0; minute < 10; minute++) {
      clock.advance(60_000);
      for (const p of [bob1!, dave1!]) await p.engine.poll();
    }
    // alice is back: she applies W now, and finds carol's removal to make. W is final for
    // everyone else: a removal on E would be read by nobody. She waits for her own window.
    await alice1!.engine.poll();
    for (let slot = 0; slot < 4; slot++) {
      await alice1!.engine.maintain();
      expect((await alice1!.engine.flush()).published, 'nothing committed beside W').toEqual([]);
      clock.advance(POLICY.staggerSlotMs);
    }
    // Once W is final for her too, the removal is committed on W's epoch, where everyone is.
    await pastFinality(alice1!);
    for (let slot = 0; slot < 5; slot++) {
      await alice1!.engine.maintain();
      await alice1!.engine.flush();
      clock.advance(POLICY.staggerSlotMs);
    }
    await settle([alice1!, bob1!, dave1!]);
    const views = new Set(await Promise.all([alice1!, bob1!, dave1!].map((p) => authenticator(p, groupId))));
    expect(views.size, 'alice, bob and dave are on one branch').toBe(1);
    expect((await group(bob1!, groupId)).memberDids).not.toContain(carol.did);
  });
});

describe('random schedules with a grinding ex-member among the committers', () => {
  const shuffled = <T>(items: readonly T[], next: () => number) =>
    items
      .map((item) => ({ item, key: next() }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.item);

  it('in every round, the removed member opens nothing sent after her removal, and the others converge', async () => {
    const { alice, bob, dave, carol } = rnd.accounts;
    const { honest, carol1 } = rnd;
    const [alice1] = honest as [Peer, Peer, Peer];
    const convoId = await chatGroup(alice, [bob, dave, carol]);
    const groupId = (await alice1.engine.createGroup([bob.did, dave.did, carol.did], convoId)).groupId;
    const contacts = [alice.did, carol.did];
    await settle([...honest, carol1], contacts);
    const owner = await chatAsAccount(net.pdsUrl, alice, chatProxy());

    for (const seed of [1, 2, 3]) {
      const next = mulberry32(seed).next; // seeded, so a failing schedule can be replayed
      await pastFinality(...honest);
      if (seed > 1) {
        // carol is back in the conversation: the honest devices add her device again.
        await owner.chat.bsky.group.addMembers({ convoId, members: [carol.did] });
        clock.advance(5 * 60_000);
        for (let i = 0; i < 6 && !(await group(carol1, groupId).catch(() => undefined))?.active; i++) {
          for (const p of honest) await p.engine.maintain();
          clock.advance(POLICY.peerAddDelayMs);
          await settle([...honest, carol1], contacts);
        }
        await pastFinality(...honest);
      }
      const held = await group(carol1, groupId);
      expect(held.active, `round ${seed}: carol is in the group`).toBe(true);
      const stateE = decodeGroupState(carol1.device.mls, held.state);
      const carolLeaf = members(stateE).find((m) => m.identity === carol1.device.device.uri)!.leafIndex;

      await removeFromChat(alice, convoId, [carol]);
      clock.advance(5 * 60_000); // every device's member list is stale now
      // Every honest device notices, and once all their turns have come they commit at once,
      // each on epoch E before hearing of the others, and then writes something.
      for (const p of shuffled(honest, next)) await p.engine.maintain();
      clock.advance(4 * POLICY.staggerSlotMs);
      for (const p of shuffled(honest, next)) {
        await p.engine.maintain();
        await p.engine.flush();
      }
      const afterRemoval = newTid();
      // carol grinds a self-update on E that hashes below every commit published for E.
      let lowest: string | undefined;
      for (const author of [alice, bob, dave]) {
        for (const opened of await openedIn(carol1, author, stateE)) {
          if (opened.contentType !== 'commit') continue;
          const rank = await sha256(opened.message);
          if (!lowest || rank < lowest) lowest = rank;
        }
      }
      expect(lowest, `round ${seed}: a removal commit on epoch E`).toBeDefined();
      let ground: Awaited<ReturnType<typeof selfUpdate>> | undefined;
      // Several commits compete: the lowest of k hashes needs about k + 1 tries on average.
      for (let i = 0; i < 4096 && !ground; i++) {
        const attempt = await selfUpdate(carol1.device.mls, stateE);
        if ((await sha256(attempt.commit)) < lowest!) ground = attempt;
      }
      expect(ground, `round ${seed}: a ground commit`).toBeDefined();
      await publishEvent(carol1, await sealAs(carol1.device.mls, stateE, carolLeaf, held.current.nextCounter, ground!.commit));
      const sent = new Map<string, Peer>();
      for (const p of shuffled(honest, next)) {
        const text = `round ${seed} from ${p.name}`;
        await p.engine.sendText(groupId, text);
        sent.set(text, p);
      }
      // Delivery in a random order, everyone reading carol's repo too.
      for (let i = 0; i < 3; i++) await settle(shuffled(honest, next), contacts);
      await pastFinality(...honest);
      for (const p of honest) await p.engine.maintain();
      await settle(honest, contacts);

      const authenticators = new Set(await Promise.all(honest.map((p) => authenticator(p, groupId))));
      expect(authenticators.size, `round ${seed}: the honest devices converge`).toBe(1);
      for (const p of honest) {
        expect((await group(p, groupId)).memberDids, `round ${seed}`).not.toContain(carol.did);
        const texts = (await p.engine.messages(groupId)).map((m) => m.text);
        for (const text of sent.keys()) {
          expect(texts.filter((t) => t === text), `round ${seed}: ${p.name} has "${text}" once`).toHaveLength(1);
        }
      }
      // Nothing published after the removal opens with any key carol holds or could make.
      for (const state of [stateE, ground!.newState]) {
        for (const author of [alice, bob, dave]) {
          const opened = await openedIn(carol1, author, state);
          expect(opened.filter((o) => o.rkey > afterRemoval), `round ${seed}`).toEqual([]);
        }
      }
      await carol1.engine.poll(contacts);
      await expectUnreadableAfter(carol1.device.publicRepos, await group(carol1, groupId), [alice.did, bob.did, dave.did], afterRemoval);
    }
  });
});
