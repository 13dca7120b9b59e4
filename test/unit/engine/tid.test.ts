import { describe, expect, it } from 'vitest';
import { newTid, tidBefore } from '../../../src/engine/tid';
import { TID } from '@atproto/common-web';

describe('tidBefore', () => {
  it('gives a key that sorts before, by the requested time', () => {
    const tid = newTid();
    const before = tidBefore(tid, 60_000_000)!;
    expect(before < tid).toBe(true);
    expect(TID.fromStr(tid).timestamp() - TID.fromStr(before).timestamp()).toBe(60_000_000);
  });

  it('clamps to the smallest key near the beginning of time, and refuses non-TIDs', () => {
    expect(tidBefore('2222222222222', 1000)).toBe('2222222222222');
    expect(tidBefore('not-a-tid', 1000)).toBeUndefined();
  });
});
