import { describe, expect, it } from 'vitest';
import { eventOutboxItem, settleFinality } from '../../../src/engine/group-events';
import { EVENT, parseRecord } from '../../../src/protocol/records';
import type { GroupRecord } from '../../../src/engine/delivery-state';

const deps = { clock: { now: () => 1000 }, newTid: () => '3lbxyzabcde22' };
const tag = new Uint8Array(16).fill(7);

describe('event outbox items', () => {
  it('carry record-sized ciphertexts inline', () => {
    const item = eventOutboxItem(deps, tag, new Uint8Array(512), { groupId: 'g', id: 'm' });
    const record = parseRecord(EVENT, item.record);
    expect(record.ciphertext).toHaveLength(512);
    expect(record.blob).toBeUndefined();
    expect(item.blob).toBeUndefined();
    expect(item).toMatchObject({ rkey: '3lbxyzabcde22', createdAt: 1000, nextAttemptAt: 1000, attempts: 0 });
    expect(item.message).toEqual({ groupId: 'g', id: 'm' });
  });

  it('send blob-sized ciphertexts as a blob, with only the tag in the record (§6.5)', () => {
    const item = eventOutboxItem(deps, tag, new Uint8Array(131072));
    expect(item.blob).toHaveLength(131072);
    expect(Object.keys(item.record as object).sort()).toEqual(['$type', 'tag']);
    expect(item.message).toBeUndefined();
  });
});

describe('finality', () => {
  const group = {
    groupId: 'g',
    parent: { state: new Uint8Array(1), winnerRank: 'aa', appliedAt: 100, sentSince: [] },
  } as unknown as GroupRecord;

  it('keeps the parent inside the window and drops it once the window has passed', () => {
    expect(settleFinality(group, 100 + 999, 1000).parent).toBeDefined();
    expect(settleFinality(group, 100 + 1000, 1000).parent).toBeUndefined();
  });
});
