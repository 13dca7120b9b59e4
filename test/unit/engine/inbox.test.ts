import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_POLICY, newReadLog, type DeliveryDeps } from '../../../src/engine/delivery-deps';
import { pollInbox } from '../../../src/engine/inbox';
import { tidBefore } from '../../../src/engine/tid';
import type { PublicRepos, RepoRecord } from '../../../src/engine/ports';
import { AtmError } from '../../../src/errors';
import { EVENT_COLLECTION_NSID } from '../../../src/protocol/records';
import { MemoryDeliveryStore } from './memory-delivery-store';

// Which repos a poll reads, in what order, and what it stores. The records are not events (a
// record that does not parse is passed over with its cursor), so no MLS is involved: this is
// about the reading, not the receiving (receive.ts has its own tests and fuzz targets).

const ME = 'did:plc:meeeeeeeeeeeeeeeeeeeeeee';
const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:plc:cccccccccccccccccccccccc';
const D = 'did:plc:dddddddddddddddddddddddd';
const E = 'did:plc:eeeeeeeeeeeeeeeeeeeeeeee';
const STRANGER = 'did:plc:ssssssssssssssssssssssss';
const NOW = Date.parse('2026-12-02T12:00:00Z');
const RKEY = '3lc2222222222';

interface Reads {
  /** Every listRecordsAfter call, in the order asked. */
  asked: Array<{ did: string; after: string | undefined; limit: number }>;
  /** The most requests open at once. */
  maxOpen: number;
  /** A did whose next read fails with this. */
  failing: Map<string, AtmError>;
}

/** Every repo holds one record that is not an event; reads take a few ms (so they can overlap). */
function repos(): { publicRepos: PublicRepos; reads: Reads } {
  const reads: Reads = { asked: [], maxOpen: 0, failing: new Map() };
  let open = 0;
  const publicRepos: PublicRepos = {
    listRecords: async () => [],
    getBlob: async () => {
      throw new AtmError('Network', 'no blobs here');
    },
    async listRecordsAfter(did, collection, after, limit) {
      expect(collection).toBe(EVENT_COLLECTION_NSID);
      reads.asked.push({ did, after, limit });
      open++;
      reads.maxOpen = Math.max(reads.maxOpen, open);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const failure = reads.failing.get(did);
        if (failure) {
          reads.failing.delete(did);
          throw failure;
        }
        const records: RepoRecord[] =
          after !== undefined && after >= RKEY ? [] : [{ uri: `at://${did}/${EVENT_COLLECTION_NSID}/${RKEY}`, cid: 'bafyreiexample', rkey: RKEY, value: { not: 'an event' } }];
        return { records };
      } finally {
        open--;
      }
    },
  };
  return { publicRepos, reads };
}

function deps(): { deps: DeliveryDeps; store: MemoryDeliveryStore; reads: Reads } {
  const store = new MemoryDeliveryStore();
  const { publicRepos, reads } = repos();
  const d = {
    // The invite key is never used: no record here is shaped like an invite.
    device: { did: ME, invite: { privateKey: {} as CryptoKey } },
    store,
    publicRepos,
    clock: { now: () => NOW },
    policy: DEFAULT_DELIVERY_POLICY,
    reads: newReadLog(),
  } as unknown as DeliveryDeps;
  return { deps: d, store, reads };
}

const cursorDids = (store: MemoryDeliveryStore) => store.applied.flatMap((c) => (c.putCursors ?? []).map((cur) => cur.did));

describe('pollInbox', () => {
  it('reads every repo by default, processing them one at a time in order while reading ahead', async () => {
    const { deps: d, store, reads } = deps();
    const report = await pollInbox(d, [A, B, C, D, E]);
    expect(reads.asked.map((r) => r.did).sort()).toEqual([ME, A, B, C, D, E].sort());
    expect(cursorDids(store)).toEqual([ME, A, B, C, D, E]);
    expect(report.processed).toBe(6);
    // Reads overlap (no round trip per repo), and no more than the read-ahead allows.
    expect(reads.maxOpen).toBeGreaterThan(1);
    expect(reads.maxOpen).toBeLessThanOrEqual(4);
  });

  it('`only` reads just those repos, and only among the ones a full poll reads', async () => {
    const { deps: d, store, reads } = deps();
    const report = await pollInbox(d, [A, B, C], { only: [B, STRANGER] });
    expect(reads.asked.map((r) => r.did)).toEqual([B]);
    expect(cursorDids(store)).toEqual([B]);
    expect(report.processed).toBe(1);
    expect(await store.getCursor(A)).toBeUndefined();

    const none = await pollInbox(d, [A, B, C], { only: [] });
    expect(none.processed).toBe(0);
    expect(reads.asked).toHaveLength(1);
  });

  it('a repo a narrowed poll could not read keeps its cursor and is read by the next full poll', async () => {
    const { deps: d, store, reads } = deps();
    reads.failing.set(B, new AtmError('Network', 'PDS down'));
    const narrowed = await pollInbox(d, [A, B], { only: [B] });
    expect(narrowed.unreachable).toEqual([B]);
    expect(await store.getCursor(B)).toBeUndefined();

    const full = await pollInbox(d, [A, B]);
    expect(full.unreachable).toEqual([]);
    expect((await store.getCursor(B))?.rkey).toBe(RKEY);
    expect(full.processed).toBe(3);
  });

  it('a failed read ahead is reported for its own repo; the ones before it are processed', async () => {
    const { deps: d, store, reads } = deps();
    reads.failing.set(C, new AtmError('Network', 'PDS down'));
    const report = await pollInbox(d, [A, B, C, D]);
    expect(report.unreachable).toEqual([C]);
    expect(cursorDids(store)).toEqual([ME, A, B, D]);
  });

  it('records when a complete read began: not for a narrowed one, nor one our own repo failed (§6.7)', async () => {
    const { deps: d, reads } = deps();
    await pollInbox(d, [A, B], { only: [A] });
    expect(d.reads.completeReadStartedAt).toBe(Number.NEGATIVE_INFINITY);
    reads.failing.set(ME, new AtmError('Network', 'offline'));
    await pollInbox(d, [A, B]);
    expect(d.reads.completeReadStartedAt).toBe(Number.NEGATIVE_INFINITY);
    // Someone else's repo failing does not hold finality back (a member could stall everyone).
    reads.failing.set(B, new AtmError('Network', 'PDS down'));
    await pollInbox(d, [A, B]);
    expect(d.reads.completeReadStartedAt).toBe(NOW);
  });

  it('a page too large for the response cap is asked for again in smaller pages, read ahead or not', async () => {
    const { deps: d, store, reads } = deps();
    reads.failing.set(B, new AtmError('PayloadTooLarge', 'response too large'));
    await pollInbox(d, [A, B]);
    expect(reads.asked.filter((r) => r.did === B).map((r) => r.limit)).toEqual([50, 12]);
    expect((await store.getCursor(B))?.rkey).toBe(RKEY);
  });

  it('parked events are retried in a narrowed poll too', async () => {
    const { deps: d, store } = deps();
    // Unreadable and past its time: dropped when retried (a tag that is not 16 or 32 bytes
    // cannot be anything of ours, so the retry needs no keys).
    const parked = { uri: `at://${A}/${EVENT_COLLECTION_NSID}/${RKEY}`, did: A, rkey: RKEY, tag: new Uint8Array(3), ciphertext: new Uint8Array(3) };
    await store.apply({ putPending: [{ ...parked, firstSeenAt: NOW - DEFAULT_DELIVERY_POLICY.pendingTtlMs - 1 }] });
    const report = await pollInbox(d, [A], { only: [] });
    expect(await store.listPending()).toEqual([]);
    expect(report.outcomes).toEqual([]); // still unrecognised: dropped for its age, not rejected
    expect(store.applied.at(-1)).toEqual({ deletePending: [parked.uri] });
  });

  it('a parked event stored before events were marked gets marked when its invite try fails', async () => {
    const { deps: d, store } = deps();
    const parked = { uri: `at://${A}/${EVENT_COLLECTION_NSID}/${RKEY}`, did: A, rkey: RKEY, tag: new Uint8Array(3), ciphertext: new Uint8Array(3) };
    await store.apply({ putPending: [{ ...parked, firstSeenAt: NOW }] });
    await pollInbox(d, [A], { only: [] });
    expect((await store.listPending()).map((p) => p.notOurInvite)).toEqual([true]);
    // Marked: the next retry writes nothing.
    const writes = store.applied.length;
    await pollInbox(d, [A], { only: [] });
    expect(store.applied.slice(writes).filter((c) => c.putPending || c.deletePending)).toEqual([]);
  });

  it('a firehose hint (startAt) starts the read at the hinted record or the cursor, never before the look-back', async () => {
    const { deps: d, store, reads } = deps();
    const cursor = '3lc3333333333';
    await store.apply({ putCursors: [{ did: A, rkey: cursor, updatedAt: NOW, recent: [cursor] }] });
    const lookback = tidBefore(cursor, DEFAULT_DELIVERY_POLICY.lookbackMs * 1000);
    const afterFor = async (hint?: string) => {
      reads.asked.length = 0;
      await pollInbox(d, [A], { only: [A], ...(hint ? { startAt: new Map([[A, hint]]) } : {}) });
      return reads.asked.find((r) => r.did === A)?.after;
    };
    // No hint: a look-back window before the cursor (§7).
    expect(await afterFor()).toBe(lookback);
    // A new record after the cursor: read from the cursor, not the whole window again.
    expect(await afterFor('3lc4444444444')).toBe(cursor);
    // A late record (older key than the cursor, within the window): from just before it.
    const late = '3lc3333222222';
    expect(await afterFor(late)).toBe(tidBefore(late, 1));
    // Older than the window, or not a TID: the window, as without a hint.
    expect(await afterFor('3kz2222222222')).toBe(lookback);
    expect(await afterFor('self')).toBe(lookback);
  });
});
