import { describe, expect, it } from 'vitest';
import type { GroupRecord } from '../../../src/engine/delivery-state';
import { withGroupCache } from '../../../src/engine/group-cache';
import { MemoryDeliveryStore } from './memory-delivery-store';

/** A group record with the shape the cache walks (its keys and state are not used here). */
function record(groupId: string, updatedAt = 1): GroupRecord {
  const epoch = { epoch: '1', tags: { leaves: [{ leaf: 0, highest: -1, first: 0, tags: new Uint8Array(16), consumed: [] }] }, nextCounter: 0 };
  return {
    groupId,
    state: new Uint8Array([1, 2, 3]),
    current: epoch,
    retained: [],
    memberDids: ['did:plc:a'],
    active: true,
    createdAt: 1,
    updatedAt,
  } as unknown as GroupRecord;
}

/** Counts the reads that reach the store behind the cache. */
function countingStore() {
  const inner = new MemoryDeliveryStore();
  const reads = { list: 0, get: 0 };
  const listGroups = inner.listGroups.bind(inner);
  const getGroup = inner.getGroup.bind(inner);
  inner.listGroups = () => (reads.list++, listGroups());
  inner.getGroup = (id) => (reads.get++, getGroup(id));
  return { inner, reads };
}

/**
 * Makes the store's listGroups take its time: each read holds what the store had when it began
 * and answers once `release` is called. `restore` puts the prompt read back.
 */
function slowListGroups(inner: MemoryDeliveryStore) {
  const listGroups = inner.listGroups;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  inner.listGroups = async () => {
    const snapshot = await listGroups();
    await gate;
    return snapshot;
  };
  return { release, restore: () => void (inner.listGroups = listGroups) };
}

describe('withGroupCache', () => {
  it('reads the store once, then follows its own writes', async () => {
    const { inner, reads } = countingStore();
    await inner.apply({ putGroups: [record('bb'), record('aa')] });
    const cached = withGroupCache(inner);

    expect((await cached.listGroups()).map((g) => g.groupId)).toEqual(['aa', 'bb']);
    await cached.apply({ putGroups: [record('ab', 2)], deleteGroups: ['bb'] });
    expect((await cached.listGroups()).map((g) => g.groupId)).toEqual(['aa', 'ab']);
    expect((await cached.getGroup('ab'))?.updatedAt).toBe(2);
    expect(await cached.getGroup('bb')).toBeUndefined();
    expect(reads).toEqual({ list: 1, get: 0 });
    // ...and the store holds the same.
    expect((await inner.listGroups()).map((g) => g.groupId)).toEqual(['aa', 'ab']);
  });

  it("reads only a conversation's groups until every group is held, then answers from memory", async () => {
    const { inner, reads } = countingStore();
    const convo = (id: string, convoId?: string) => ({ ...record(id), ...(convoId ? { convoId } : {}) }) as GroupRecord;
    await inner.apply({ putGroups: [convo('cc', 'c1'), convo('aa', 'c1'), convo('bb', 'c2'), convo('dd')] });
    const cached = withGroupCache(inner);

    const first = await cached.listConvoGroups('c1');
    expect(first.map((g) => g.groupId)).toEqual(['aa', 'cc']);
    expect(Object.isFrozen(first[0])).toBe(true);
    expect(reads.list).toBe(0); // not every group
    await cached.apply({ putGroups: [convo('ab', 'c1')] });
    expect((await cached.listConvoGroups('c1')).map((g) => g.groupId)).toEqual(['aa', 'ab', 'cc']);

    await cached.listGroups();
    expect(reads.list).toBe(1);
    await cached.apply({ deleteGroups: ['aa'] });
    expect((await cached.listConvoGroups('c1')).map((g) => g.groupId)).toEqual(['ab', 'cc']);
    expect(await cached.listConvoGroups('nobody')).toEqual([]);
    expect(reads.list).toBe(1);
  });

  it('keeps the cache as the store is when a write fails', async () => {
    const { inner } = countingStore();
    await inner.apply({ putGroups: [record('aa', 1)] });
    const cached = withGroupCache(inner);
    await cached.listGroups();

    inner.failApplyOnce();
    await expect(cached.apply({ putGroups: [record('aa', 5)], deleteGroups: [] })).rejects.toThrow();
    expect((await cached.getGroup('aa'))?.updatedAt).toBe(1);
    expect((await inner.getGroup('aa'))?.updatedAt).toBe(1);
  });

  it('does not keep a read that a write overtook', async () => {
    const { inner, reads } = countingStore();
    await inner.apply({ putGroups: [record('aa', 1)] });
    const cached = withGroupCache(inner);

    const { release, restore } = slowListGroups(inner);
    const early = cached.listGroups();
    await cached.apply({ putGroups: [record('aa', 7)] });
    release();
    expect((await early)[0]?.updatedAt).toBe(1); // begun before the write, as a store read would be
    restore();
    // The overtaken read was not kept: the next read goes to the store and sees the write.
    expect((await cached.getGroup('aa'))?.updatedAt).toBe(7);
    expect(reads.list).toBe(2);
  });

  it('does not answer a read begun after a write with a read begun before it', async () => {
    const { inner } = countingStore();
    await inner.apply({ putGroups: [record('aa', 1)] });
    const cached = withGroupCache(inner);
    const { release, restore } = slowListGroups(inner);
    const early = cached.listGroups(); // in flight, holding what was there before the write
    await cached.apply({ putGroups: [record('aa', 7)] });
    restore();
    const later = cached.getGroup('aa'); // begun after the write
    release();
    await early;
    expect((await later)?.updatedAt).toBe(7);
  });

  it('shares frozen records: changing one in place throws instead of forking cache and store', async () => {
    const { inner } = countingStore();
    await inner.apply({ putGroups: [record('aa')] });
    const cached = withGroupCache(inner);
    const group = (await cached.getGroup('aa'))!;

    expect(() => {
      (group as { active: boolean }).active = false;
    }).toThrow(TypeError);
    expect(() => {
      group.memberDids.push('did:plc:b');
    }).toThrow(TypeError);
    expect(() => {
      group.current.tags.leaves[0]!.consumed.push(0);
    }).toThrow(TypeError);
    expect((await inner.getGroup('aa'))?.active).toBe(true);
  });
});
