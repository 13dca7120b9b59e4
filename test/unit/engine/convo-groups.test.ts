import { describe, expect, it } from 'vitest';
import { conversationGroup, conversationMessages } from '../../../src/engine/convo-groups';
import type { GroupRecord, MessageRecord } from '../../../src/engine/delivery-state';
import type { DeliveryDeps } from '../../../src/engine/delivery-deps';
import { conversationStanding } from '../../../src/engine/send';
import { AtmError } from '../../../src/errors';
import { MemoryDeliveryStore } from './memory-delivery-store';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const MALLORY = 'did:plc:mallorymmmmmmmmmmmmmmmmm';
const CAROL = 'did:plc:carolccccccccccccccccccc';
const device = { did: ALICE } as DeliveryDeps['device'];

function group(groupId: string, memberDids: string[]): GroupRecord {
  return { groupId, convoId: 'c1', memberDids, active: true, retained: [], createdAt: 0, updatedAt: 0 } as unknown as GroupRecord;
}

function message(groupId: string, contentId: string, senderUri: string, text: string): MessageRecord {
  return { groupId, id: `${contentId} ${senderUri}`, contentId, senderUri, text, sentAt: 1, receivedAt: 1, own: false, status: 'sent' };
}

describe('groups standing for a conversation (§6.8)', () => {
  it('never uses a group that holds someone outside the conversation, even with a better rank', async () => {
    const store = new MemoryDeliveryStore();
    // Whichever ranks first, only the honest group may be chosen.
    await store.apply({ putGroups: [group('aa'.repeat(32), [ALICE, BOB]), group('bb'.repeat(32), [ALICE, BOB, MALLORY])] });
    const conversationDids = async () => [ALICE, BOB];
    expect((await conversationGroup({ store, device, conversationDids }, 'c1'))?.groupId).toBe('aa'.repeat(32));
    // Without the check both are candidates.
    const unchecked = await conversationGroup({ store, device }, 'c1');
    expect(['aa'.repeat(32), 'bb'.repeat(32)]).toContain(unchecked?.groupId);
  });

  it('tells someone who left (listed when the group last stood) from someone never in it (§6.9)', async () => {
    const people = [ALICE, BOB];
    const deps = { device, conversationDids: async () => people };
    const withCarol = { ...group('cc'.repeat(32), [ALICE, BOB, CAROL]), stoodWith: [ALICE, BOB, CAROL] } as GroupRecord;
    expect(await conversationStanding(deps, withCarol, [ALICE, BOB])).toBe('stands');
    // carol left: the group is still the conversation's, and waits for her removal.
    expect(await conversationStanding(deps, withCarol, [ALICE, BOB, CAROL])).toBe('leaving');
    // mallory never was in it: the group is not the conversation's.
    expect(await conversationStanding(deps, withCarol, [ALICE, BOB, CAROL, MALLORY])).toBe('not');
    expect(await conversationStanding(deps, { ...withCarol, stoodWith: undefined } as GroupRecord, [ALICE, BOB, CAROL])).toBe('not');
    // This device's own account left: not its conversation any more.
    const without = { device, conversationDids: async () => [BOB, CAROL] };
    expect(await conversationStanding(without, withCarol, [ALICE, BOB, CAROL])).toBe('not');
    // A chat service that cannot answer: fail closed.
    const down = { device, conversationDids: async (): Promise<string[]> => Promise.reject(new Error('down')) };
    expect(await conversationStanding(down, withCarol, [ALICE, BOB])).toBe('not');
  });

  it('a fresh question the service cannot answer falls back to its last answer; "not a member" does not', async () => {
    const withCarol = { ...group('cc'.repeat(32), [ALICE, BOB]), stoodWith: [ALICE, BOB] } as GroupRecord;
    const answering = (fresh: () => Promise<string[]>) => ({
      device,
      conversationDids: async (_c: string, options?: { fresh?: boolean }) => (options?.fresh ? fresh() : [ALICE, BOB]),
    });
    const offline = answering(() => Promise.reject(new AtmError('Network', 'offline')));
    expect(await conversationStanding(offline, withCarol, [ALICE, BOB], { fresh: true })).toBe('stands');
    const refused = answering(() => Promise.reject(new AtmError('RemoteRefused', 'not a member', { error: 'InvalidConvo' })));
    expect(await conversationStanding(refused, withCarol, [ALICE, BOB], { fresh: true })).toBe('not');
  });

  it("shows one entry per author and id, and nothing from a group that does not belong", async () => {
    const store = new MemoryDeliveryStore();
    await store.apply({ putGroups: [group('aa'.repeat(32), [ALICE, BOB]), group('bb'.repeat(32), [ALICE, MALLORY])] });
    const id = '0'.repeat(32);
    await store.apply({
      putMessages: [
        message('aa'.repeat(32), id, `at://${BOB}/org.atmessaging.device/3lbbbbbbbbbbb`, 'from bob'),
        // The same message re-sent by its author into another honest group: shown once.
        // Mallory re-using bob's id: a different author, so not hidden behind bob's.
        message('aa'.repeat(32), id, `at://${MALLORY}/org.atmessaging.device/3lbmmmmmmmmmm`, 'same id, other author'),
        message('bb'.repeat(32), '1'.repeat(32), `at://${MALLORY}/org.atmessaging.device/3lbmmmmmmmmmm`, 'from a foreign group'),
      ],
    });
    const conversationDids = async () => [ALICE, BOB];
    const texts = (await conversationMessages({ store, device, conversationDids }, 'c1')).map((m) => m.text).sort();
    expect(texts).toEqual(['from bob', 'same id, other author']);
  });
});
