import { describe, expect, it } from 'vitest';
import { addMembers, createGroup, groupId, joinGroup, members, readWelcome } from '../../../src/mls';
import { contextFor, hex, keyPackageFor, newDevice, registryAuth } from './helpers';

describe('readWelcome (what an invite says before it is joined)', () => {
  it('names the group, epoch, conversation and members that joining then confirms', async () => {
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => newDevice(n)));
    const registry = registryAuth([alice!, bob!, carol!]);
    const ctx = await contextFor(registry.auth);
    const [a, b, c] = await Promise.all([alice!, bob!, carol!].map((d) => keyPackageFor(ctx, d)));
    const created = await createGroup(ctx, { keyPackage: a!.keyPackage, privateKeyPackage: a!.privateKeyPackage, conversation: 'convo-1' });
    const add = await addMembers(ctx, created, [b!.keyPackage]);
    const params = { welcome: add.welcome, ratchetTree: add.ratchetTree, keyPackage: b!.keyPackage, privateKeyPackage: b!.privateKeyPackage };

    const summary = await readWelcome(ctx, params);
    const joined = await joinGroup(ctx, params);
    expect(hex(summary.groupId)).toBe(hex(groupId(joined)));
    expect(summary.epoch).toBe(joined.groupContext.epoch);
    expect(summary.conversation).toBe('convo-1');
    expect(summary.identities.sort()).toEqual(members(joined).map((m) => m.identity).sort());
    // It asks the Authentication Service nothing: that is the join's (costly) part.
    const asked = registry.asked.length;
    await readWelcome(ctx, params);
    expect(registry.asked.length).toBe(asked);

    // Not ours: it does not open.
    await expect(readWelcome(ctx, { ...params, keyPackage: c!.keyPackage, privateKeyPackage: c!.privateKeyPackage })).rejects.toMatchObject({
      code: 'WelcomeNotForUs',
    });
  });
});
