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
} from '../../../src/mls';
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
    // 1: the eager secret tree of unpatched ts-mls 1.6.4, whose encoding differs; 3: unknown.
    expect(encoded[0]).toBe(2);
    for (const format of [1, 3]) {
      const otherFormat = encoded.slice();
      otherFormat[0] = format;
      expect((await rejection(() => decodeGroupState(ctx, otherFormat))).code).toBe('MlsDecode');
    }
  });
});
