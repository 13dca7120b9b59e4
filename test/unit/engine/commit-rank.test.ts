import { describe, expect, it } from 'vitest';
import { addsNobody, changesNoMembers, commitRank, outranks, rankBeforeBytes, type RankedCommit } from '../../../src/engine/commit-rank';

const GROUP = 'ab'.repeat(32);
const base: RankedCommit = { groupId: GROUP, epoch: '7', committerLeaf: 3, removed: 0, added: 0, message: new Uint8Array([1]) };
const random = () => crypto.getRandomValues(new Uint8Array(64));

describe('the rank of a commit (docs/protocol.md §6.7)', () => {
  it('puts a commit that removes more first, whoever commits it and whatever its bytes', async () => {
    const removal = await commitRank({ ...base, committerLeaf: 9, removed: 1, message: random() });
    // A self-update ground over many byte strings never ranks before a removal.
    for (let i = 0; i < 200; i++) {
      expect(await commitRank({ ...base, message: random() }) > removal).toBe(true);
    }
    expect(await commitRank({ ...base, removed: 2 }) < removal).toBe(true);
  });

  it('says from the rank alone whether a commit changes members, and whether it adds anyone', async () => {
    const update = await commitRank(base);
    const removal = await commitRank({ ...base, removed: 1 });
    const add = await commitRank({ ...base, added: 1 });
    const both = await commitRank({ ...base, removed: 2, added: 3 });
    expect([update, removal, add, both].map(changesNoMembers)).toEqual([true, false, false, false]);
    expect([update, removal, add, both].map(addsNobody)).toEqual([true, true, false, false]);
  });

  it('puts more additions before fewer when removals are equal', async () => {
    const adds = await commitRank({ ...base, committerLeaf: 9, added: 1 });
    expect(await commitRank({ ...base, added: 0 }) > adds).toBe(true);
    expect(await commitRank({ ...base, added: 5 }) < adds).toBe(true);
  });

  it("ties by the committer's seat in the epoch, which re-making the commit cannot change", async () => {
    const other = await commitRank({ ...base, committerLeaf: 4, message: random() });
    const first = (await commitRank({ ...base, message: random() })) < other;
    for (let i = 0; i < 100; i++) {
      expect((await commitRank({ ...base, message: random() })) < other).toBe(first);
    }
    // The seat changes with the epoch and the group, so no leaf is first for good.
    const seats = new Set<boolean>();
    for (let epoch = 0; epoch < 32; epoch++) {
      const mine = await rankBeforeBytes({ ...base, epoch: String(epoch) });
      seats.add(mine < (await rankBeforeBytes({ ...base, epoch: String(epoch), committerLeaf: 4 })));
    }
    expect(seats).toEqual(new Set([true, false]));
  });

  it('orders one committer\'s own commits by their bytes', async () => {
    const a = await commitRank({ ...base, message: new Uint8Array([1]) });
    const b = await commitRank({ ...base, message: new Uint8Array([2]) });
    expect(a).not.toBe(b);
    expect(a.slice(0, a.lastIndexOf('.'))).toBe(b.slice(0, b.lastIndexOf('.')));
  });

  it('tells before a commit is made whether it will outrank another, whatever its bytes', async () => {
    const winner = await commitRank({ ...base, committerLeaf: 9, message: random() });
    expect(outranks(await rankBeforeBytes({ ...base, removed: 1 }), winner)).toBe(true);
    expect(outranks(await rankBeforeBytes({ ...base, committerLeaf: 9 }), winner)).toBe(false); // same parts: not strictly before
    const seatFirst = (await rankBeforeBytes(base)) < (await rankBeforeBytes({ ...base, committerLeaf: 9 }));
    expect(outranks(await rankBeforeBytes(base), winner)).toBe(seatFirst);
  });
});
