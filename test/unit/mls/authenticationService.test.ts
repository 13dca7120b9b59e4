import { describe, expect, it } from 'vitest';
import { generateKeyPackageWithKey } from 'ts-mls';
import {
  addMembers,
  createGroup,
  encodeGroupState,
  generateSignatureKeyPair,
  joinGroup,
  processCommit,
  selfUpdate,
  type AuthenticationService,
} from '../../../src/mls';
import { deviceCapabilities } from '../../../src/mls/keyPackage';
import { buildGroup, contextFor, hex, keyPackageFor, newDevice, registryAuth, rejection } from './helpers';

describe('our Authentication Service is the one ts-mls uses', () => {
  it('add fails with UntrustedCredential when the AS refuses a KeyPackage, and the state is untouched', async () => {
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    registry.register(erin);
    registry.refuse(erin.identity);
    const kp = await keyPackageFor(ctx, erin);
    const before = hex(encodeGroupState(states[0]!));
    const err = await rejection(() => addMembers(ctx, states[0]!, [kp.keyPackage]));
    expect(err.code).toBe('UntrustedCredential');
    expect(err.context.identity).toBe(erin.identity);
    expect(hex(encodeGroupState(states[0]!))).toBe(before);
  });

  it('add fails when the KeyPackage is signed with a key other than the one the AS knows', async () => {
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    registry.register(erin);
    const impostor = { ...erin, keys: await generateSignatureKeyPair(ctx.suite) };
    const kp = await keyPackageFor(ctx, impostor);
    expect((await rejection(() => addMembers(ctx, states[0]!, [kp.keyPackage]))).code).toBe('UntrustedCredential');
  });

  it('refuses credentials that are not device AT-URIs without asking the AS', async () => {
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const keys = await generateSignatureKeyPair(ctx.suite);
    const { publicPackage } = await generateKeyPackageWithKey(
      { credentialType: 'basic', identity: new TextEncoder().encode('mallory') },
      deviceCapabilities(),
      { notBefore: 0n, notAfter: BigInt(Math.floor(Date.now() / 1000) + 3600) },
      [],
      keys,
      ctx.suite.impl,
    );
    const asked = registry.asked.length;
    expect((await rejection(() => addMembers(ctx, states[0]!, [publicPackage]))).code).toBe('UntrustedCredential');
    expect(registry.asked.length).toBe(asked);
  });

  it('join fails when the AS refuses the Welcome signer or any member of the tree', async () => {
    for (const refusedIndex of [0, 2]) {
      const devices = await Promise.all(['alice', 'bob', 'carol'].map((n) => newDevice(n)));
      const creator = await contextFor(registryAuth(devices).auth);
      const bobsAs = registryAuth(devices);
      bobsAs.refuse(devices[refusedIndex]!.identity);
      const bobs = await contextFor(bobsAs.auth);
      const [a, b, c] = await Promise.all(devices.map((d) => keyPackageFor(creator, d)));
      const group = await createGroup(creator, { keyPackage: a!.keyPackage, privateKeyPackage: a!.privateKeyPackage });
      const add = await addMembers(creator, group, [b!.keyPackage, c!.keyPackage]);
      const err = await rejection(() =>
        joinGroup(bobs, {
          welcome: add.welcome,
          ratchetTree: add.ratchetTree,
          keyPackage: b!.keyPackage,
          privateKeyPackage: b!.privateKeyPackage,
        }),
      );
      expect(err.code).toBe('UntrustedCredential');
      expect(err.context.identity).toBe(devices[refusedIndex]!.identity);
    }
  });

  it('processing a commit fails when the AS refuses an added member or the committer', async () => {
    const { ctx, states, registry, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const erin = await newDevice('erin');
    registry.register(erin);
    const add = await addMembers(ctx, states[0]!, [(await keyPackageFor(ctx, erin)).keyPackage]);

    const bobsRegistry = registryAuth(devices);
    bobsRegistry.register(erin);
    bobsRegistry.refuse(erin.identity);
    const bobs = { ...ctx, auth: bobsRegistry.auth };
    const refusedAdd = await rejection(() => processCommit(bobs, states[1]!, add.commit));
    expect(refusedAdd.code).toBe('UntrustedCredential');
    expect(refusedAdd.context.identity).toBe(erin.identity);
    // With an AS that trusts erin, the same commit applies.
    expect((await processCommit(ctx, states[1]!, add.commit)).added.map((m) => m.identity)).toEqual([erin.identity]);

    const update = await selfUpdate(ctx, states[2]!);
    const carolRefused = registryAuth(devices);
    carolRefused.refuse(devices[2]!.identity);
    const err = await rejection(() => processCommit({ ...ctx, auth: carolRefused.auth }, states[1]!, update.commit));
    expect(err.code).toBe('UntrustedCredential');
    expect(err.context.identity).toBe(devices[2]!.identity);
  });

  it('passes an AS failure through unchanged, so "could not check" differs from "refused"', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const offline = new Error('PDS unreachable');
    const failing: AuthenticationService = async () => {
      throw offline;
    };
    const update = await selfUpdate(ctx, states[0]!);
    await expect(processCommit({ ...ctx, auth: failing }, states[1]!, update.commit)).rejects.toBe(offline);
    const erin = await newDevice('erin');
    const kp = await keyPackageFor(ctx, erin);
    await expect(addMembers({ ...ctx, auth: failing }, states[0]!, [kp.keyPackage])).rejects.toBe(offline);
  });
});
