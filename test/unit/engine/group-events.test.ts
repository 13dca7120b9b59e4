import { describe, expect, it } from 'vitest';
import { eventOutboxItem, finalityReadDueAt, mayCommit, settleFinality } from '../../../src/engine/group-events';
import type { DeliveryPolicy } from '../../../src/engine/delivery-deps';
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

describe('finality (§6.7 rule 4)', () => {
  const policy = { finalityMs: 1000 } as DeliveryPolicy;
  const group = {
    groupId: 'g',
    origin: 'created',
    createdAt: 0,
    parent: { state: new Uint8Array(1), winnerRank: 'aa', appliedAt: 100, sentSince: [] },
  } as unknown as GroupRecord;
  const after = (completeReadStartedAt: number) => ({ policy, reads: { completeReadStartedAt } });

  it('keeps the parent until a complete read begun a window after the winner was applied', () => {
    expect(settleFinality(after(100 + 999), group).parent).toBeDefined();
    expect(settleFinality(after(100 + 1000), group).parent).toBeUndefined();
  });

  it('never drops it on time alone: a device that slept through the window reads first', () => {
    expect(settleFinality(after(Number.NEGATIVE_INFINITY), group).parent).toBeDefined();
    expect(mayCommit(after(Number.NEGATIVE_INFINITY), group)).toBe(false);
    expect(finalityReadDueAt(after(Number.NEGATIVE_INFINITY), group)).toBe(1100);
    expect(finalityReadDueAt(after(1100), group)).toBeUndefined();
  });

  it('lets a device that joined from a Welcome commit only after such a read since it joined', () => {
    const joined = { ...group, origin: 'joined', createdAt: 5000 } as GroupRecord;
    delete joined.parent;
    expect(mayCommit(after(5999), joined)).toBe(false);
    expect(finalityReadDueAt(after(5999), joined)).toBe(6000);
    expect(mayCommit(after(6000), joined)).toBe(true);
  });
});
