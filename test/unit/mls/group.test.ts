import { describe, expect, it } from 'vitest';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { decodeMlsMessage } from 'ts-mls';
import {
  changeMembers,
  createGroup,
  decryptApplicationMessage,
  encodeGroupState,
  encryptApplicationMessage,
  epoch,
  epochAuthenticator,
  exportSecret,
  groupId,
  isActive,
  joinGroup,
  members,
  ownLeafIndex,
  processCommit,
  removeMembers,
  selfUpdate,
  type GroupState,
} from '../../../src/mls';
import { buildGroup, everyoneProcesses, hex, keyPackageFor, newDevice, rejection, text, utf8 } from './helpers';

const NAMES = ['alice', 'bob', 'carol', 'dave'];

async function exportAll(ctx: Parameters<typeof exportSecret>[0], states: GroupState[], label = 'atm envelope') {
  return Promise.all(states.map(async (s) => hex(await exportSecret(ctx, s, label, utf8('ctx'), 32))));
}

describe('creating a group and adding members with a Welcome', () => {
  it('adds three members from their KeyPackages with one commit, and all see the same roster', async () => {
    const { states, devices, add, initial, registry } = await buildGroup(NAMES);
    expect(groupId(initial)).toHaveLength(32);
    expect(epoch(initial)).toBe(0n);
    expect(members(initial).map((m) => m.identity)).toEqual([devices[0]!.identity]);

    expect(add.added.map((m) => [m.leafIndex, m.identity])).toEqual([
      [1, devices[1]!.identity],
      [2, devices[2]!.identity],
      [3, devices[3]!.identity],
    ]);
    const roster = devices.map((d, i) => ({ leafIndex: i, identity: d.identity, key: hex(d.keys.publicKey) }));
    for (const [i, s] of states.entries()) {
      expect(epoch(s)).toBe(1n);
      expect(hex(groupId(s))).toBe(hex(groupId(initial)));
      expect(ownLeafIndex(s)).toBe(i);
      expect(isActive(s)).toBe(true);
      expect(members(s).map((m) => ({ leafIndex: m.leafIndex, identity: m.identity, key: hex(m.signaturePublicKey) }))).toEqual(
        roster,
      );
    }
    // Our AS was consulted for each added package, and by each joiner for the tree it received.
    for (const d of devices.slice(1)) expect(registry.asked).toContain(d.identity);
    expect(registry.asked.filter((id) => id === devices[0]!.identity).length).toBeGreaterThanOrEqual(3);
  });

  it('uses a random 32-byte group id per group', async () => {
    const a = await buildGroup(['erin', 'frank']);
    const b = await buildGroup(['erin', 'frank']);
    expect(hex(groupId(a.initial))).not.toBe(hex(groupId(b.initial)));
  });

  it('all members agree on the epoch authenticator and exporter output, and both change with the epoch', async () => {
    const { ctx, states, initial } = await buildGroup(NAMES);
    const authenticators = states.map((s) => hex(epochAuthenticator(s)));
    expect(new Set(authenticators).size).toBe(1);
    expect(authenticators[0]).not.toBe(hex(epochAuthenticator(initial)));

    const exported = await exportAll(ctx, states);
    expect(new Set(exported).size).toBe(1);
    expect(exported[0]).toHaveLength(64);
    expect(exported[0]).not.toBe((await exportAll(ctx, [initial]))[0]);
    // Label and context separate the outputs.
    const other = await exportSecret(ctx, states[0]!, 'atm tag', utf8('ctx'), 32);
    const otherContext = await exportSecret(ctx, states[0]!, 'atm envelope', utf8('ctx2'), 32);
    expect(hex(other)).not.toBe(exported[0]);
    expect(hex(otherContext)).not.toBe(exported[0]);
    expect(await exportSecret(ctx, states[1]!, 'x', new Uint8Array(0), 100)).toHaveLength(100);
  });
});

describe('application messages', () => {
  it('round-trip with the authenticated sender leaf and credential identity', async () => {
    const { ctx, states, devices } = await buildGroup(NAMES);
    let current = states;
    for (const [senderIndex, sender] of devices.entries()) {
      const body = `hello from ${sender.name}`;
      const sent = await encryptApplicationMessage(ctx, current[senderIndex]!, utf8(body));
      current = current.map((s, i) => (i === senderIndex ? sent.newState : s));
      for (const [i] of devices.entries()) {
        if (i === senderIndex) continue;
        const got = await decryptApplicationMessage(ctx, current[i]!, sent.message);
        current = current.map((s, j) => (j === i ? got.newState : s));
        expect(text(got.plaintext)).toBe(body);
        expect(got.sender.leafIndex).toBe(senderIndex);
        expect(got.sender.identity).toBe(sender.identity);
        expect(hex(got.sender.signaturePublicKey)).toBe(hex(sender.keys.publicKey));
        expect(got.epoch).toBe(1n);
      }
    }
  });

  it('rejects a replayed message and a tampered one', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const sent = await encryptApplicationMessage(ctx, states[0]!, utf8('once'));
    const first = await decryptApplicationMessage(ctx, states[1]!, sent.message);
    const replay = await rejection(() => decryptApplicationMessage(ctx, first.newState, sent.message));
    expect(replay.code).toBe('MlsRejected');

    const tampered = sent.message.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    const bad = await rejection(() => decryptApplicationMessage(ctx, states[1]!, tampered));
    expect(bad.code).toBe('MlsRejected');
    // The untouched state still decrypts the genuine message: a failure changed nothing.
    expect(text((await decryptApplicationMessage(ctx, states[1]!, sent.message)).plaintext)).toBe('once');
  });

  it('decrypts a late message from the previous epoch, and refuses once its keys are gone', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const late = await encryptApplicationMessage(ctx, states[1]!, utf8('sent at epoch 1'));
    let current = [states[0]!, late.newState, states[2]!];
    const update = await selfUpdate(ctx, current[0]!);
    current = await everyoneProcesses(ctx, current, 0, update);
    const got = await decryptApplicationMessage(ctx, current[2]!, late.message);
    expect(text(got.plaintext)).toBe('sent at epoch 1');
    expect(got.epoch).toBe(1n);
    expect(got.sender.leafIndex).toBe(1);

    // Default retention is 2 past epochs: after two more commits epoch 1 is gone.
    for (let i = 0; i < 2; i++) current = await everyoneProcesses(ctx, current, 0, await selfUpdate(ctx, current[0]!));
    expect(epoch(current[2]!)).toBe(4n);
    expect((await rejection(() => decryptApplicationMessage(ctx, current[2]!, late.message))).code).toBe('StaleEpoch');
  });
});

describe('removing a member', () => {
  it('tells the others who was removed, and locks the removed member out of the next epoch', async () => {
    const { ctx, states, devices } = await buildGroup(NAMES);
    // Sent before the removal: the removed member was entitled to it.
    const before = await encryptApplicationMessage(ctx, states[1]!, utf8('before'));
    const removal = await removeMembers(ctx, states[0]!, [2]);
    expect(removal.removed.map((m) => m.identity)).toEqual([devices[2]!.identity]);

    const bob = await processCommit(ctx, before.newState, removal.commit);
    expect(bob.committer.identity).toBe(devices[0]!.identity);
    expect(bob.removed.map((m) => m.leafIndex)).toEqual([2]);
    expect(bob.removedSelf).toBe(false);
    const dave = await processCommit(ctx, states[3]!, removal.commit);
    const carol = await processCommit(ctx, states[2]!, removal.commit);
    expect(carol.removedSelf).toBe(true);
    expect(isActive(carol.newState)).toBe(false);

    const remaining = [removal.newState, bob.newState, dave.newState];
    for (const s of remaining) {
      expect(epoch(s)).toBe(2n);
      expect(members(s).map((m) => m.identity)).toEqual([devices[0]!.identity, devices[1]!.identity, devices[3]!.identity]);
    }
    expect(text((await decryptApplicationMessage(ctx, carol.newState, before.message)).plaintext)).toBe('before');

    const after = await encryptApplicationMessage(ctx, bob.newState, utf8('after'));
    expect(text((await decryptApplicationMessage(ctx, dave.newState, after.message)).plaintext)).toBe('after');
    expect((await rejection(() => decryptApplicationMessage(ctx, carol.newState, after.message))).code).toBe('NotMember');

    // Not just our routing: the removed member's keys cannot open the new epoch's message at all,
    // while the same call with a remaining member's keys can.
    const decoded = decodeMlsMessage(after.message, 0)![0];
    if (decoded.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    const unprotectWith = (s: GroupState) =>
      unprotectPrivateMessage(
        s.keySchedule.senderDataSecret,
        decoded.privateMessage,
        s.secretTree,
        s.ratchetTree,
        s.groupContext,
        s.clientConfig.keyRetentionConfig,
        ctx.suite.impl,
      );
    const control = await unprotectWith(dave.newState);
    expect(control.content.content.contentType).toBe('application');
    await expect(unprotectWith(carol.newState)).rejects.toThrow();

    const remainingExports = await exportAll(ctx, remaining);
    expect(new Set(remainingExports).size).toBe(1);
    expect((await exportAll(ctx, [carol.newState]))[0]).not.toBe(remainingExports[0]);
    expect(hex(epochAuthenticator(carol.newState))).not.toBe(hex(epochAuthenticator(remaining[0]!)));

    expect((await rejection(() => encryptApplicationMessage(ctx, carol.newState, utf8('x')))).code).toBe('NotMember');
    const next = await selfUpdate(ctx, remaining[0]!);
    expect((await rejection(() => processCommit(ctx, carol.newState, next.commit))).code).toBe('NotMember');
  });

  it('refuses to remove an empty leaf or oneself', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    expect((await rejection(() => removeMembers(ctx, states[0]!, [5]))).code).toBe('NotMember');
    expect((await rejection(() => removeMembers(ctx, states[0]!, [0]))).code).toBe('InvalidInput');
    expect((await rejection(() => removeMembers(ctx, states[0]!, [1, 1]))).code).toBe('InvalidInput');
  });
});

describe('one commit that removes and adds (membership upkeep, docs/protocol.md §6.9)', () => {
  it('the removed member learns it was removed even when the newcomer takes its leaf; everyone else follows', async () => {
    const { ctx, states, devices, registry } = await buildGroup(NAMES);
    const newcomer = await newDevice('erin');
    registry.register(newcomer);
    const kp = await keyPackageFor(ctx, newcomer);
    const change = await changeMembers(ctx, states[0]!, { add: [kp.keyPackage], remove: [2] });
    expect(change.removed.map((m) => m.identity)).toEqual([devices[2]!.identity]);
    // ts-mls fills the first blank leaf: the newcomer sits where the removed member sat.
    expect(change.added.map((m) => m.leafIndex)).toEqual([2]);
    expect(change.welcome).toBeDefined();

    const removed = await processCommit(ctx, states[2]!, change.commit);
    expect(removed.removedSelf).toBe(true);
    expect(removed.committer.identity).toBe(devices[0]!.identity);
    expect(isActive(removed.newState)).toBe(false);
    const others = await Promise.all([1, 3].map((i) => processCommit(ctx, states[i]!, change.commit)));
    for (const o of others) {
      expect(o.removedSelf).toBe(false);
      expect(o.removed.map((m) => m.leafIndex)).toEqual([2]);
      expect(o.added.map((m) => m.identity)).toEqual([newcomer.identity]);
    }
    const joined = await joinGroup(ctx, {
      welcome: change.welcome!,
      ratchetTree: change.ratchetTree,
      keyPackage: kp.keyPackage,
      privateKeyPackage: kp.privateKeyPackage,
    });
    const remaining = [change.newState, ...others.map((o) => o.newState), joined];
    const exports = await exportAll(ctx, remaining);
    expect(new Set(exports).size).toBe(1);
    expect((await exportAll(ctx, [removed.newState]))[0]).not.toBe(exports[0]);
    const after = await encryptApplicationMessage(ctx, joined, utf8('after'));
    expect((await rejection(() => decryptApplicationMessage(ctx, removed.newState, after.message))).code).toBe('NotMember');
  });

  it('refuses an empty change, a duplicate, or removing oneself', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    expect((await rejection(() => changeMembers(ctx, states[0]!, { add: [], remove: [] }))).code).toBe('InvalidInput');
    expect((await rejection(() => changeMembers(ctx, states[0]!, { add: [], remove: [1, 1] }))).code).toBe('InvalidInput');
    expect((await rejection(() => changeMembers(ctx, states[0]!, { add: [], remove: [0] }))).code).toBe('InvalidInput');
  });
});

describe('self-update', () => {
  it('changes the epoch authenticator and exporter, replaces the leaf key, and everyone follows', async () => {
    const { ctx, states, devices } = await buildGroup(NAMES);
    const update = await selfUpdate(ctx, states[1]!);
    expect(epoch(update.newState)).toBe(2n);
    expect(hex(epochAuthenticator(update.newState))).not.toBe(hex(epochAuthenticator(states[1]!)));
    const leafBefore = states[1]!.ratchetTree[2];
    const leafAfter = update.newState.ratchetTree[2];
    if (leafBefore?.nodeType !== 'leaf' || leafAfter?.nodeType !== 'leaf') throw new Error('expected leaves');
    expect(hex(leafAfter.leaf.hpkePublicKey)).not.toBe(hex(leafBefore.leaf.hpkePublicKey));
    expect(hex(leafAfter.leaf.signaturePublicKey)).toBe(hex(devices[1]!.keys.publicKey));

    const processed = await processCommit(ctx, states[3]!, update.commit);
    expect(processed.committer.leafIndex).toBe(1);
    expect(processed.added).toEqual([]);
    expect(processed.removed).toEqual([]);
    const next = await everyoneProcesses(ctx, states, 1, update);
    expect(new Set(next.map((s) => hex(epochAuthenticator(s)))).size).toBe(1);
    expect(new Set(await exportAll(ctx, next)).size).toBe(1);
    const msg = await encryptApplicationMessage(ctx, next[1]!, utf8('fresh keys'));
    expect((await decryptApplicationMessage(ctx, next[2]!, msg.message)).sender.identity).toBe(devices[1]!.identity);
  });
});

describe('state in, state out', () => {
  it('no operation changes its input state, so a state can be processed on two branches', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const snapshot = states.map((s) => hex(encodeGroupState(s)));

    const msg = await encryptApplicationMessage(ctx, states[0]!, utf8('m'));
    await decryptApplicationMessage(ctx, states[1]!, msg.message);
    const fromAlice = await selfUpdate(ctx, states[0]!);
    const fromBob = await removeMembers(ctx, states[1]!, [2]);
    const carolA = await processCommit(ctx, states[2]!, fromAlice.commit);
    const carolB = await processCommit(ctx, states[2]!, fromBob.commit);

    expect(states.map((s) => hex(encodeGroupState(s)))).toEqual(snapshot);
    // Two competing commits on epoch 1, both applicable from the same parent state.
    expect(epoch(carolA.newState)).toBe(2n);
    expect(carolB.removedSelf).toBe(true);
    expect(hex(epochAuthenticator(carolA.newState))).toBe(hex(epochAuthenticator(fromAlice.newState)));
  });

  it('refuses a retention of zero epochs (ts-mls would then keep every epoch)', async () => {
    const { ctx, devices } = await buildGroup(['alice', 'bob']);
    const kp = await keyPackageFor(ctx, devices[0]!);
    const bad = { ...ctx, retention: { retainKeysForEpochs: 0, retainKeysForGenerations: 10, maximumForwardRatchetSteps: 200 } };
    const err = await rejection(() => createGroup(bad, { keyPackage: kp.keyPackage, privateKeyPackage: kp.privateKeyPackage }));
    expect(err.code).toBe('InvalidInput');
  });
});
