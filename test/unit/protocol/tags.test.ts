import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isAtmError } from '../../../src/errors';
import { selfUpdate } from '../../../src/mls';
import { deriveEpochKeys, importEpochKeys } from '../../../src/protocol/epoch-keys';
import {
  consumeTag,
  createTagWindow,
  eventTag,
  matchTag,
  pendingCounters,
  TAG_LENGTH,
  TAG_LOOKAHEAD,
  type TagMatch,
  type TagWindow,
} from '../../../src/protocol/tags';
import { buildGroup, everyoneProcesses, hex } from '../mls/helpers';

const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
const otherSecret = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

async function tagKeyOf(tagSecret: Uint8Array): Promise<CryptoKey> {
  return (await importEpochKeys(new Uint8Array(32), tagSecret)).tagKey;
}

/** §6.4 computed independently: node's HMAC over the layout written out by hand. */
function expectedTag(tagSecret: Uint8Array, leaf: number, counter: bigint): string {
  const fields = Buffer.alloc(12);
  fields.writeUInt32BE(leaf, 0);
  fields.writeBigUInt64BE(counter, 4);
  const input = Buffer.concat([Buffer.from('atmessaging/v1 tag', 'ascii'), fields]);
  return createHmac('sha256', tagSecret).update(input).digest().subarray(0, 16).toString('hex');
}

async function code(op: () => Promise<unknown>): Promise<string> {
  try {
    await op();
    return 'ok';
  } catch (err) {
    return isAtmError(err) ? err.code : `untyped: ${String(err)}`;
  }
}

function size(w: TagWindow, leaf: number): number {
  return pendingCounters(w, leaf).length;
}

describe('eventTag (§6.4)', () => {
  it('is the first 16 bytes of HMAC-SHA256 over label || uint32 leaf || uint64 counter', async () => {
    const key = await tagKeyOf(secret);
    for (const [leaf, counter] of [
      [0, 0n],
      [1, 0n],
      [0, 1n],
      [0x01020304, 0x0102030405060708n],
      [0xffffffff, 0xffffffffffffffffn],
      [7, 2n ** 32n],
    ] as const) {
      const tag = await eventTag(key, leaf, counter);
      expect(tag.length).toBe(TAG_LENGTH);
      expect(hex(tag)).toBe(expectedTag(secret, leaf, counter));
    }
  });

  it('matches pinned vectors (tag secret 00 01 … 1f)', async () => {
    const key = await tagKeyOf(secret);
    expect(hex(await eventTag(key, 0, 0))).toBe('511c13c346a4e96f311df8e9879f1f59');
    expect(hex(await eventTag(key, 0x01020304, 0x0102030405060708n))).toBe('2cccf11659670942b5c522549b1f0af7');
  });

  it('takes the counter as a number or a bigint alike', async () => {
    const key = await tagKeyOf(secret);
    expect(await eventTag(key, 3, 41)).toEqual(await eventTag(key, 3, 41n));
  });

  it('is unique across leaves, counters and keys', async () => {
    const key = await tagKeyOf(secret);
    const other = await tagKeyOf(otherSecret);
    const seen = new Set<string>();
    for (let leaf = 0; leaf < 8; leaf++) {
      for (let counter = 0; counter < 64; counter++) {
        seen.add(hex(await eventTag(key, leaf, counter)));
        seen.add(hex(await eventTag(other, leaf, counter)));
      }
    }
    expect(seen.size).toBe(2 * 8 * 64);
  });

  it('refuses a leaf that is not a uint32 and a counter that is not a uint64', async () => {
    const key = await tagKeyOf(secret);
    expect(await code(() => eventTag(key, -1, 0))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 2 ** 32, 0))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 1.5, 0))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 0, -1))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 0, -1n))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 0, 2n ** 64n))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 0, 2 ** 60))).toBe('InvalidInput');
    expect(await code(() => eventTag(key, 0, 0.5))).toBe('InvalidInput');
  });

  it('differs between epochs of a real group, where members agree on it', async () => {
    const fx = await buildGroup(['alice', 'bob']);
    const [alice1, bob1] = await Promise.all(fx.states.map((s) => deriveEpochKeys(fx.ctx, s)));
    const update = await selfUpdate(fx.ctx, fx.states[1]!);
    const states2 = await everyoneProcesses(fx.ctx, fx.states, 1, update);
    const [alice2, bob2] = await Promise.all(states2.map((s) => deriveEpochKeys(fx.ctx, s)));
    expect([alice1!.epoch, alice2!.epoch]).toEqual([1n, 2n]);
    for (const counter of [0, 1, 63]) {
      const t1 = await eventTag(alice1!.tagKey, 0, counter);
      expect(await eventTag(bob1!.tagKey, 0, counter)).toEqual(t1);
      const t2 = await eventTag(alice2!.tagKey, 0, counter);
      expect(await eventTag(bob2!.tagKey, 0, counter)).toEqual(t2);
      expect(t2).not.toEqual(t1);
    }
    // A reader's window for epoch 2 does not recognise epoch 1's tags.
    const window2 = await createTagWindow(bob2!.tagKey, [0, 1]);
    expect(matchTag(window2, await eventTag(alice1!.tagKey, 0, 0))).toBeUndefined();
    expect(matchTag(window2, await eventTag(alice2!.tagKey, 0, 0))).toEqual({ leaf: 0, counter: 0 });
  });
});

describe('TagWindow', () => {
  it('recognises the first 64 counters of each member leaf and nothing else', async () => {
    const key = await tagKeyOf(secret);
    const window = await createTagWindow(key, [0, 1, 3]);
    for (const leaf of [0, 1, 3]) {
      for (const counter of [0, 1, 31, TAG_LOOKAHEAD - 1]) {
        expect(matchTag(window, await eventTag(key, leaf, counter))).toEqual({ leaf, counter });
      }
      expect(matchTag(window, await eventTag(key, leaf, TAG_LOOKAHEAD))).toBeUndefined();
      expect(size(window, leaf)).toBe(TAG_LOOKAHEAD);
    }
    expect(matchTag(window, await eventTag(key, 2, 0))).toBeUndefined();
    expect(matchTag(window, await eventTag(await tagKeyOf(otherSecret), 0, 0))).toBeUndefined();
    expect(matchTag(window, new Uint8Array(16))).toBeUndefined();
    const tag = await eventTag(key, 0, 0);
    expect(matchTag(window, tag.subarray(0, 15))).toBeUndefined();
    expect(matchTag(window, new Uint8Array([...tag, 0]))).toBeUndefined();
  });

  it('advances past a consumed counter and never matches its tag again', async () => {
    const key = await tagKeyOf(secret);
    const before = await createTagWindow(key, [0, 1]);
    const snapshot = structuredClone(before);
    const tag0 = await eventTag(key, 0, 0);
    const match = matchTag(before, tag0)!;
    const after = await consumeTag(key, before, match);
    expect(before).toEqual(snapshot); // state in, state out
    // ...and the earlier window still answers as it did (windows share a lookup index).
    expect(matchTag(before, tag0)).toEqual({ leaf: 0, counter: 0 });
    expect(matchTag(before, await eventTag(key, 0, TAG_LOOKAHEAD))).toBeUndefined();
    expect(matchTag(after, tag0)).toBeUndefined(); // a replay
    expect(matchTag(after, await eventTag(key, 0, 1))).toEqual({ leaf: 0, counter: 1 });
    expect(matchTag(after, await eventTag(key, 0, TAG_LOOKAHEAD))).toEqual({ leaf: 0, counter: TAG_LOOKAHEAD });
    expect(matchTag(after, await eventTag(key, 0, TAG_LOOKAHEAD + 1))).toBeUndefined();
    // Other leaves are untouched.
    expect(matchTag(after, await eventTag(key, 1, 0))).toEqual({ leaf: 1, counter: 0 });
    expect(matchTag(after, await eventTag(key, 1, TAG_LOOKAHEAD))).toBeUndefined();
    // Consuming the same counter twice is a caller bug.
    expect(await code(() => consumeTag(key, after, match))).toBe('InvalidInput');
    expect(await code(() => consumeTag(key, after, { leaf: 2, counter: 0 }))).toBe('InvalidInput');
  });

  it('keeps 64 pending tags per leaf through a long run in order, each accepted once', async () => {
    const key = await tagKeyOf(secret);
    let window = await createTagWindow(key, [5]);
    const used: Uint8Array[] = [];
    for (let counter = 0; counter < 150; counter++) {
      const tag = await eventTag(key, 5, counter);
      const match = matchTag(window, tag);
      expect(match).toEqual({ leaf: 5, counter });
      window = await consumeTag(key, window, match!);
      used.push(tag);
      expect(size(window, 5)).toBe(TAG_LOOKAHEAD);
    }
    for (const tag of used) expect(matchTag(window, tag)).toBeUndefined();
  });

  it('after a jump, keeps skipped counters within 64 below the highest, then drops them', async () => {
    const key = await tagKeyOf(secret);
    let window = await createTagWindow(key, [0]);
    window = await consumeTag(key, window, { leaf: 0, counter: 10 });
    for (const c of [0, 9, 11, 10 + TAG_LOOKAHEAD]) {
      expect(matchTag(window, await eventTag(key, 0, c))).toEqual({ leaf: 0, counter: c });
    }
    expect(matchTag(window, await eventTag(key, 0, 10))).toBeUndefined();
    expect(matchTag(window, await eventTag(key, 0, 11 + TAG_LOOKAHEAD))).toBeUndefined();
    // A late counter below the highest is consumed without moving the window.
    window = await consumeTag(key, window, { leaf: 0, counter: 3 });
    expect(matchTag(window, await eventTag(key, 0, 3))).toBeUndefined();
    expect(matchTag(window, await eventTag(key, 0, 4))).toEqual({ leaf: 0, counter: 4 });
    expect(window.leaves[0]!.highest).toBe(10);
    // A second jump to 70 forgets what is 64 or more below it (counters ≤ 6), keeps 7..9.
    window = await consumeTag(key, window, { leaf: 0, counter: 70 });
    expect(matchTag(window, await eventTag(key, 0, 6))).toBeUndefined();
    for (const c of [7, 9, 69, 71, 70 + TAG_LOOKAHEAD]) {
      expect(matchTag(window, await eventTag(key, 0, c))).toEqual({ leaf: 0, counter: c });
    }
    expect(matchTag(window, await eventTag(key, 0, 70))).toBeUndefined();
    expect(matchTag(window, await eventTag(key, 0, 10))).toBeUndefined();
    expect(matchTag(window, await eventTag(key, 0, 71 + TAG_LOOKAHEAD))).toBeUndefined();
  });

  it('is plain data: survives structured clone (IndexedDB) and keeps working', async () => {
    const key = await tagKeyOf(secret);
    let window = await createTagWindow(key, [0, 2]);
    window = await consumeTag(key, window, { leaf: 2, counter: 5 });
    const copy = structuredClone(window);
    expect(copy).toEqual(window);
    expect(matchTag(copy, await eventTag(key, 2, 5))).toBeUndefined();
    expect(matchTag(copy, await eventTag(key, 2, 4))).toEqual({ leaf: 2, counter: 4 });
    const next = await consumeTag(key, copy, { leaf: 2, counter: 6 });
    expect(next).toEqual(await consumeTag(key, window, { leaf: 2, counter: 6 }));
  });

  it('reads a window stored in the earlier form (hex tag → counter) as the same window', async () => {
    const key = await tagKeyOf(secret);
    let current = await createTagWindow(key, [0, 3]);
    current = await consumeTag(key, current, { leaf: 3, counter: 10 });
    current = await consumeTag(key, current, { leaf: 3, counter: 2 });
    // The same window as the earlier code stored it: per leaf, every pending tag's hex → counter.
    const legacy = {
      leaves: await Promise.all(
        current.leaves.map(async (l) => {
          const pending: Record<string, number> = {};
          for (const c of pendingCounters(current, l.leaf)) pending[hex(await eventTag(key, l.leaf, c))] = c;
          return { leaf: l.leaf, highest: l.highest, pending };
        }),
      ),
    } as unknown as TagWindow;
    for (const leaf of [0, 3]) expect(pendingCounters(legacy, leaf)).toEqual(pendingCounters(current, leaf));
    for (const c of [2, 10]) expect(matchTag(legacy, await eventTag(key, 3, c))).toBeUndefined();
    expect(matchTag(legacy, await eventTag(key, 3, 11))).toEqual({ leaf: 3, counter: 11 });
    const next = await consumeTag(key, legacy, { leaf: 3, counter: 11 });
    const expected = await consumeTag(key, current, { leaf: 3, counter: 11 });
    expect(pendingCounters(next, 3)).toEqual(pendingCounters(expected, 3));
    for (const c of pendingCounters(expected, 3)) expect(matchTag(next, await eventTag(key, 3, c))).toEqual({ leaf: 3, counter: c });
    expect(await code(() => consumeTag(key, legacy, { leaf: 3, counter: 10 }))).toBe('InvalidInput');
  });

  it('answers the same through its carried-over lookup indexes as a copy read back from storage', async () => {
    const key = await tagKeyOf(secret);
    let window = await createTagWindow(key, [0, 4]);
    const steps: TagMatch[] = [
      { leaf: 4, counter: 0 },
      { leaf: 4, counter: 30 },
      { leaf: 0, counter: 63 },
      { leaf: 4, counter: 5 },
      { leaf: 4, counter: 93 },
      { leaf: 0, counter: 64 },
      { leaf: 4, counter: 31 },
    ];
    for (const step of steps) {
      expect(matchTag(window, await eventTag(key, step.leaf, step.counter))).toEqual(step); // builds or carries indexes
      window = await consumeTag(key, window, step);
      const stored = structuredClone(window); // no indexes: rebuilt from the bytes
      for (const leaf of [0, 4]) {
        expect(pendingCounters(window, leaf)).toEqual(pendingCounters(stored, leaf));
        for (const c of [0, 5, 29, 30, 31, 32, 63, 64, 93, 94, 156, 157, 158]) {
          const tag = await eventTag(key, leaf, c);
          expect(matchTag(window, tag), `leaf ${leaf} counter ${c}`).toEqual(matchTag(stored, tag));
        }
      }
    }
  });

  it('refuses a leaf named twice', async () => {
    const key = await tagKeyOf(secret);
    expect(await code(() => createTagWindow(key, [1, 1]))).toBe('InvalidInput');
  });
});
