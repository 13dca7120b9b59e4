import { describe, expect, it } from 'vitest';
import {
  addMembers,
  decodeGroupState,
  decryptApplicationMessage,
  encodeGroupState,
  encryptApplicationMessage,
  epoch,
  epochAuthenticator,
  exportSecret,
  members,
  processCommit,
  selfUpdate,
} from '../../../src/mls';
import { encodeRatchetTreeBytes } from '../../../src/mls/messageCodec';
import { everyoneProcesses } from './helpers';
import { buildGroup, hex, keyPackageFor, newDevice, registryAuth, rejection, text, utf8 } from './helpers';

describe('group state encoding', () => {
  it('round-trips, and the decoded state still decrypts, encrypts and follows commits', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const encoded = encodeGroupState(states[1]!);
    const bob = decodeGroupState(ctx, encoded);
    expect(hex(encodeGroupState(bob))).toBe(hex(encoded));
    expect(epoch(bob)).toBe(1n);
    expect(members(bob)).toEqual(members(states[1]!));
    expect(hex(epochAuthenticator(bob))).toBe(hex(epochAuthenticator(states[0]!)));
    expect(hex(await exportSecret(ctx, bob, 'l', utf8('c'), 16))).toBe(hex(await exportSecret(ctx, states[0]!, 'l', utf8('c'), 16)));

    const fromAlice = await encryptApplicationMessage(ctx, states[0]!, utf8('to the restored bob'));
    const got = await decryptApplicationMessage(ctx, bob, fromAlice.message);
    expect(text(got.plaintext)).toBe('to the restored bob');
    expect(got.sender.identity).toBe(devices[0]!.identity);

    // Persist after every step, as the engine does.
    const bob2 = decodeGroupState(ctx, encodeGroupState(got.newState));
    const fromBob = await encryptApplicationMessage(ctx, bob2, utf8('from the restored bob'));
    expect(text((await decryptApplicationMessage(ctx, states[2]!, fromBob.message)).plaintext)).toBe('from the restored bob');

    const erin = await newDevice('erin');
    const registry = registryAuth([...devices, erin]);
    const add = await addMembers({ ...ctx, auth: registry.auth }, states[0]!, [(await keyPackageFor(ctx, erin)).keyPackage]);
    const bob3 = decodeGroupState(ctx, encodeGroupState(fromBob.newState));
    const processed = await processCommit({ ...ctx, auth: registry.auth }, bob3, add.commit);
    expect(epoch(processed.newState)).toBe(2n);
    expect(hex(epochAuthenticator(processed.newState))).toBe(hex(epochAuthenticator(add.newState)));
  });

  it('re-attaches a config built from the context: our AS and retention, never ts-mls defaults', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    const refusing = registryAuth(devices);
    refusing.register(erin);
    refusing.refuse(erin.identity);
    const bob = decodeGroupState({ ...ctx, auth: refusing.auth }, encodeGroupState(states[1]!));
    expect(bob.clientConfig.keyRetentionConfig.retainKeysForEpochs).toBe(2);
    // The re-attached authService is ours: calling it directly consults the refusing registry.
    const erinsCredential = { credentialType: 'basic' as const, identity: utf8(erin.identity) };
    expect(await bob.clientConfig.authService.validateCredential(erinsCredential, erin.keys.publicKey)).toBe(false);
    expect(refusing.asked).toContain(erin.identity);
    const mallory = { credentialType: 'basic' as const, identity: utf8('mallory') };
    expect(await bob.clientConfig.authService.validateCredential(mallory, erin.keys.publicKey)).toBe(false);
  });

  it('rejects garbage, truncated, trailing and unknown-format state bytes with MlsDecode', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const encoded = encodeGroupState(states[0]!);
    const trailing = new Uint8Array(encoded.length + 3);
    trailing.set(encoded);
    for (const bad of [encoded.slice(0, encoded.length - 1), encoded.slice(0, encoded.length >> 1), trailing]) {
      expect((await rejection(() => decodeGroupState(ctx, bad))).code).toBe('MlsDecode');
    }
    // 1: unpatched ts-mls 1.6.4 (eager secret tree); 2: trees inline; 4: unknown.
    expect(encoded[0]).toBe(3);
    for (const format of [1, 2, 4]) {
      const otherFormat = encoded.slice();
      otherFormat[0] = format;
      expect((await rejection(() => decodeGroupState(ctx, otherFormat))).code).toBe('MlsDecode');
    }
  });

  it('keeps the trees of retained epochs, and reuses one decoded tree for equal bytes (frozen)', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    let group = states;
    for (let i = 0; i < 2; i++) group = await everyoneProcesses(ctx, group, 0, await selfUpdate(ctx, group[0]!));
    const bob = group[1]!;
    expect([...bob.historicalReceiverData.keys()]).toEqual([1n, 2n]);
    const encoded = encodeGroupState(bob);
    const first = decodeGroupState(ctx, encoded);
    const second = decodeGroupState(ctx, encoded.slice());
    expect(hex(encodeGroupState(first))).toBe(hex(encoded));
    expect(hex(encodeRatchetTreeBytes(first.ratchetTree))).toBe(hex(encodeRatchetTreeBytes(bob.ratchetTree)));
    for (const [epochNumber, past] of bob.historicalReceiverData) {
      expect(hex(encodeRatchetTreeBytes(first.historicalReceiverData.get(epochNumber)!.ratchetTree))).toBe(hex(encodeRatchetTreeBytes(past.ratchetTree)));
    }
    // Equal tree bytes give the same (frozen) tree object; everything else is decoded afresh.
    expect(second.ratchetTree).toBe(first.ratchetTree);
    expect(Object.isFrozen(first.ratchetTree)).toBe(true);
    expect(second.keySchedule).not.toBe(first.keySchedule);
    expect(second.secretTree).not.toBe(first.secretTree);
    // And the shared trees still work for both: each decrypts the next message of its epoch.
    const sent = await encryptApplicationMessage(ctx, group[2]!, utf8('to both copies'));
    for (const copy of [first, second]) expect(text((await decryptApplicationMessage(ctx, copy, sent.message)).plaintext)).toBe('to both copies');
  });

  it('rejects a tree table that does not fit the state with MlsDecode', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const encoded = encodeGroupState(states[1]!);
    const view = new DataView(encoded.buffer, encoded.byteOffset);
    const trees = view.getUint32(1);
    let at = 5;
    for (let i = 0; i < trees; i++) at += 4 + view.getUint32(at);
    const badIndex = encoded.slice();
    new DataView(badIndex.buffer).setUint32(at, trees); // current tree: one past the table
    const badCount = encoded.slice();
    new DataView(badCount.buffer).setUint32(1, trees + 5);
    const badHistory = encoded.slice();
    new DataView(badHistory.buffer).setUint32(at + 4, 7);
    for (const bad of [badIndex, badCount, badHistory]) {
      expect((await rejection(() => decodeGroupState(ctx, bad))).code).toBe('MlsDecode');
    }
  });

  it("round-trips a removed member's state (its own leaf is blank in the tree it keeps)", async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const { removeMembers, processCommit: process, isActive } = await import('../../../src/mls');
    const removal = await removeMembers(ctx, states[0]!, [2]);
    const carol = (await process(ctx, states[2]!, removal.commit)).newState;
    expect(isActive(carol)).toBe(false);
    const decoded = decodeGroupState(ctx, encodeGroupState(carol));
    expect(isActive(decoded)).toBe(false);
    expect(hex(encodeGroupState(decoded))).toBe(hex(encodeGroupState(carol)));
  });
});
