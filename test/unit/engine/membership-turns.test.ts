import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../src/bytes';
import { DEFAULT_DELIVERY_POLICY } from '../../../src/engine/delivery-deps';
import type { GroupRecord } from '../../../src/engine/delivery-state';
import { turnDelayMs, type MembershipChange } from '../../../src/engine/membership';
import { selfUpdateDue } from '../../../src/engine/self-update-schedule';
import {
  addMembers,
  createGroup,
  deviceUri,
  generateSignatureKeyPair,
  groupId,
  joinGroup,
  members,
  type GroupState,
} from '../../../src/mls';
import { contextFor, keyPackageFor, registryAuth, suite, type TestDevice } from '../mls/helpers';

// Whose turn it is to commit a membership change (docs/protocol.md §6.9), computed by every
// member of one real 4-leaf group: alice has two devices, bob and carol one each.

const did = (name: string) => `did:plc:${name.padEnd(24, 'a')}`;
const DIDS = { alice: did('alice'), bob: did('bob'), carol: did('carol') };
const SLOT = DEFAULT_DELIVERY_POLICY.staggerSlotMs;
const PEER = DEFAULT_DELIVERY_POLICY.peerAddDelayMs;

let states: Record<'alice1' | 'alice2' | 'bob1' | 'carol1', GroupState>;

async function device(name: string, did: string, rkey: string): Promise<TestDevice> {
  return { name, identity: deviceUri({ did, rkey }), keys: await generateSignatureKeyPair(await suite()) };
}

beforeAll(async () => {
  const devices = [
    await device('alice1', DIDS.alice, '3kaaaaaaaaaa2'),
    await device('alice2', DIDS.alice, '3kaaaaaaaaaa3'),
    await device('bob1', DIDS.bob, '3kbbbbbbbbbb2'),
    await device('carol1', DIDS.carol, '3kcccccccccc2'),
  ];
  const ctx = await contextFor(registryAuth(devices).auth);
  const packages = await Promise.all(devices.map((d) => keyPackageFor(ctx, d)));
  const initial = await createGroup(ctx, { keyPackage: packages[0]!.keyPackage, privateKeyPackage: packages[0]!.privateKeyPackage });
  const add = await addMembers(ctx, initial, packages.slice(1).map((p) => p.keyPackage));
  const joined = await Promise.all(
    packages.slice(1).map((p) =>
      joinGroup(ctx, { welcome: add.welcome, ratchetTree: add.ratchetTree, keyPackage: p.keyPackage, privateKeyPackage: p.privateKeyPackage }),
    ),
  );
  states = { alice1: add.newState, alice2: joined[0]!, bob1: joined[1]!, carol1: joined[2]! };
});

function record(state: GroupState): GroupRecord {
  return { groupId: toHex(groupId(state)), current: { epoch: '1' } } as GroupRecord;
}

async function delays(change: MembershipChange): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, state] of Object.entries(states)) out[name] = await turnDelayMs(DEFAULT_DELIVERY_POLICY, record(state), state, change);
  return out;
}

/** The creator is leaf 0 and the others were added in order. */
const memberOf = (name: keyof typeof states) => members(states.alice1)[['alice1', 'alice2', 'bob1', 'carol1'].indexOf(name)]!;

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

describe('turns for a membership change', () => {
  const slots = (values: number[]) => sorted(values).map((v) => v / SLOT);

  it("a new device of alice: alice's devices first, the others only after the peer delay", async () => {
    const d = await delays({ kind: 'add', key: 'add x', owner: DIDS.alice } as MembershipChange);
    expect(sorted([d.alice1!, d.alice2!])).toEqual([0, SLOT]);
    for (const other of [d.bob1!, d.carol1!]) expect(other).toBeGreaterThanOrEqual(PEER);
    expect(d.bob1).not.toBe(d.carol1);
  });

  it('a device of someone with no device in the group yet: every member in one order, no peer delay', async () => {
    const d = await delays({ kind: 'add', key: 'add y', owner: did('dave') } as MembershipChange);
    expect(slots(Object.values(d))).toEqual([0, 1, 2, 3]);
  });

  it("a revoked device of alice: alice's other device first, then the others after it", async () => {
    const d = await delays({ kind: 'revoke', key: 'revoke a2', owner: DIDS.alice, member: memberOf('alice2') });
    expect(d.alice1).toBe(0);
    for (const other of [d.bob1!, d.carol1!]) expect(other).toBeGreaterThanOrEqual(SLOT);
    expect(d.bob1).not.toBe(d.carol1);
  });

  it('changes no owner makes (a leave, a newcomer) share one order, so one member commits them together', async () => {
    const leave = await delays({ kind: 'leave', key: 'leave c', owner: DIDS.carol, member: memberOf('carol1') });
    const newcomer = await delays({ kind: 'add', key: 'add d', owner: did('dave') } as MembershipChange);
    for (const name of ['alice1', 'alice2', 'bob1']) expect(leave[name]).toBe(newcomer[name]);
  });

  it('recently active people take the first turns', async () => {
    const change = { kind: 'add', key: 'add f', owner: did('frank') } as MembershipChange;
    for (const first of ['bob1', 'carol1'] as const) {
      const active = new Set([first === 'bob1' ? DIDS.bob : DIDS.carol]);
      const d: Record<string, number> = {};
      for (const [name, state] of Object.entries(states)) {
        d[name] = await turnDelayMs(DEFAULT_DELIVERY_POLICY, record(state), state, change, active);
      }
      expect(d[first]).toBe(0);
      expect(sorted(Object.values(d))).toEqual([0, SLOT, 2 * SLOT, 3 * SLOT]);
    }
  });

  it('every member computes the same order', async () => {
    const change = { kind: 'add', key: 'add z', owner: did('erin') } as MembershipChange;
    const first = await delays(change);
    expect(await delays(change)).toEqual(first);
    expect(new Set(Object.values(first)).size).toBe(4);
  });
});

describe('self-update schedule', () => {
  const policy = { selfUpdateIntervalMs: 1000, selfUpdateMessages: 3 };
  const base = { active: true, createdAt: 0 } as GroupRecord;

  it('is due after the interval since creation or the last path update', () => {
    expect(selfUpdateDue(policy, base, 999)).toBe(false);
    expect(selfUpdateDue(policy, base, 1000)).toBe(true);
    expect(selfUpdateDue(policy, { ...base, lastPathUpdateAt: 500 }, 1000)).toBe(false);
    expect(selfUpdateDue(policy, { ...base, lastPathUpdateAt: 500 }, 1500)).toBe(true);
  });

  it('is due after the configured number of own messages', () => {
    expect(selfUpdateDue(policy, { ...base, sentSinceUpdate: 2 }, 10)).toBe(false);
    expect(selfUpdateDue(policy, { ...base, sentSinceUpdate: 3 }, 10)).toBe(true);
  });

  it('is never due where this device cannot commit or already has a commit waiting', () => {
    expect(selfUpdateDue(policy, { ...base, active: false }, 5000)).toBe(false);
    expect(selfUpdateDue(policy, { ...base, supersededBy: 'ab' }, 5000)).toBe(false);
    expect(selfUpdateDue(policy, { ...base, deferred: { kind: 'update' } }, 5000)).toBe(false);
  });
});
