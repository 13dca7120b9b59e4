import { describe, expect, it } from 'vitest';
import type { MessageRecord, OutboxItem } from '../../../src/engine/delivery-state';
import {
  flushOutbox,
  isParked,
  retryDelay,
  retryOutboxItem,
  type OutboxDeps,
  type RetryPolicy,
} from '../../../src/engine/outbox';
import type { OwnRepo } from '../../../src/engine/ports';
import { AtmError, type AtmErrorCode } from '../../../src/errors';
import { EVENT_COLLECTION_NSID as EVENT } from '../../../src/protocol/records';
import { MemoryDeliveryStore } from './memory-delivery-store';
import { MemoryRepo, tidSequence } from './memory-repo';

// Unit level: the outbox use case against an in-memory repo (with failure injection) and an
// in-memory DeliveryStore whose `apply` is all or nothing, like the IndexedDB one.

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const GROUP = 'a1'.repeat(16);
const T0 = Date.parse('2027-01-01T00:00:00Z');
const POLICY: RetryPolicy = { baseMs: 1_000, maxMs: 8_000, jitter: 0 };

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');
const bytesOf = (seed: number, length: number) => Uint8Array.from({ length }, (_, i) => (seed * 31 + i) & 0xff);

function setup(repo: OwnRepo & Partial<MemoryRepo> = new MemoryRepo(DID)) {
  const store = new MemoryDeliveryStore();
  let t = T0;
  const clock = { now: () => t, set: (ms: number) => void (t = ms), advance: (ms: number) => void (t += ms) };
  const tids = tidSequence();
  const deps: OutboxDeps = { store, repo, clock, policy: POLICY };
  let n = 0;

  /** What the send use case commits: the message ('sending') and its write, in one transaction. */
  async function enqueue(options: { createdAt?: number; blob?: Uint8Array; withMessage?: boolean } = {}) {
    const seed = n++;
    const rkey = tids.next();
    const id = seed.toString(16).padStart(32, '0');
    const tag = { $bytes: b64(bytesOf(seed, 16)) };
    const record = options.blob
      ? { $type: EVENT, tag }
      : { $type: EVENT, tag, ciphertext: { $bytes: b64(bytesOf(seed + 100, 512)) } };
    const createdAt = options.createdAt ?? clock.now();
    const item: OutboxItem = {
      rkey,
      collection: EVENT,
      record,
      ...(options.blob ? { blob: options.blob } : {}),
      createdAt,
      attempts: 0,
      nextAttemptAt: createdAt,
      ...(options.withMessage === false ? {} : { message: { groupId: GROUP, id } }),
    };
    const message: MessageRecord = {
      groupId: GROUP,
      id,
      contentId: id,
      senderUri: `at://${DID}/org.atmessaging.device/3lbdevice2222`,
      text: `message ${seed}`,
      sentAt: createdAt,
      receivedAt: createdAt,
      own: true,
      status: 'sending',
    };
    await store.apply({ putOutbox: [item], ...(options.withMessage === false ? {} : { putMessages: [message] }) });
    return { item, record, message };
  }

  const status = async (m: MessageRecord) => (await store.getMessage(m.groupId, m.id))?.status;
  const outboxItem = async (rkey: string) => (await store.listOutbox()).find((i) => i.rkey === rkey);

  return { store, clock, deps, enqueue, status, outboxItem };
}

/** An OwnRepo in front of `inner` that logs calls and can throw a typed error for chosen calls. */
function wrap(inner: MemoryRepo, options: { delay?: boolean } = {}) {
  const calls: string[] = [];
  const rejections = new Map<string, AtmErrorCode>();
  const pause = () => (options.delay ? new Promise((resolve) => setTimeout(resolve, 1)) : Promise.resolve());
  const repo: OwnRepo = {
    did: inner.did,
    async putRecord(collection, rkey, record) {
      calls.push(`put ${rkey}`);
      await pause();
      const code = rejections.get(rkey);
      if (code) throw new AtmError(code, 'rejected by the PDS', { rkey });
      return inner.putRecord(collection, rkey, record);
    },
    async deleteRecord(collection, rkey) {
      calls.push(`delete ${rkey}`);
      return inner.deleteRecord(collection, rkey);
    },
    async uploadBlob(bytes) {
      calls.push(`upload ${bytes.length}`);
      await pause();
      const code = rejections.get('upload');
      if (code) throw new AtmError(code, 'rejected by the PDS', { size: bytes.length });
      return inner.uploadBlob(bytes);
    },
  };
  return { repo, calls, rejections };
}

describe('flushOutbox', () => {
  it('publishes an item under its rkey, removes it and marks its message sent, in one transaction', async () => {
    const repo = new MemoryRepo(DID);
    const { store, deps, enqueue, status } = setup(repo);
    const { item, record, message } = await enqueue();
    const appliedBefore = store.applied.length;

    const report = await flushOutbox(deps);

    expect(report).toEqual({ published: [item.rkey], deferred: [], failed: [] });
    expect(repo.get(EVENT, item.rkey)?.json).toEqual(record);
    expect(repo.writes).toEqual([{ op: 'put', collection: EVENT, rkey: item.rkey, landed: true }]);
    expect(await store.listOutbox()).toEqual([]);
    expect(await status(message)).toBe('sent');
    expect(store.applied.length).toBe(appliedBefore + 1);
    expect(store.applied.at(-1)).toEqual({
      deleteOutbox: [item.rkey],
      putMessages: [{ ...message, status: 'sent' }],
      // Remembered for deletion after the retention period.
      putOwnEvents: [{ rkey: item.rkey, collection: EVENT, publishedAt: expect.any(Number) }],
    });
  });

  it('removes an item whose message is gone (or that delivers none), without recreating a message', async () => {
    const repo = new MemoryRepo(DID);
    const { store, deps, enqueue } = setup(repo);
    const noMessage = await enqueue({ withMessage: false });
    const { item, message } = await enqueue();
    // The same write on a device whose copy of the message was deleted (e.g. with its group).
    const orphaned = new MemoryDeliveryStore();
    await orphaned.apply({ putOutbox: [noMessage.item, item] });

    const report = await flushOutbox({ ...deps, store: orphaned });
    expect(report).toEqual({ published: [noMessage.item.rkey, item.rkey], deferred: [], failed: [] });
    expect(await orphaned.listOutbox()).toEqual([]);
    expect(await orphaned.getMessage(message.groupId, message.id)).toBeUndefined();
    expect(orphaned.applied.slice(1)).toEqual([
      { deleteOutbox: [noMessage.item.rkey], putOwnEvents: [expect.objectContaining({ rkey: noMessage.item.rkey })] },
      { deleteOutbox: [item.rkey], putOwnEvents: [expect.objectContaining({ rkey: item.rkey })] },
    ]);
    expect(repo.size(EVENT)).toBe(2);
    expect(await store.listOutbox()).toHaveLength(2); // the other store is untouched
  });

  it.each([
    { landed: true, what: 'a lost acknowledgement' },
    { landed: false, what: 'a write that never reached the PDS' },
  ])('retries $what later under the same rkey with identical content: exactly one record', async ({ landed }) => {
    const repo = new MemoryRepo(DID);
    const { store, clock, deps, enqueue, status, outboxItem } = setup(repo);
    const { item, record, message } = await enqueue();
    repo.failOnce('put', 1, { landed });

    const first = await flushOutbox(deps);
    expect(first).toEqual({ published: [], deferred: [item.rkey], failed: [], nextAttemptAt: T0 + 1_000 });
    expect(repo.size(EVENT)).toBe(landed ? 1 : 0);
    const landedCid = repo.get(EVENT, item.rkey)?.cid;
    expect(await outboxItem(item.rkey)).toEqual({ ...item, attempts: 1, nextAttemptAt: T0 + 1_000 });
    expect(await status(message)).toBe('sending');

    // Not due yet: nothing is written.
    clock.advance(999);
    expect(await flushOutbox(deps)).toEqual({ published: [], deferred: [], failed: [], nextAttemptAt: T0 + 1_000 });
    expect(repo.writes).toHaveLength(1);

    clock.advance(1);
    expect(await flushOutbox(deps)).toEqual({ published: [item.rkey], deferred: [], failed: [] });
    expect(repo.writes).toEqual([
      { op: 'put', collection: EVENT, rkey: item.rkey, landed },
      { op: 'put', collection: EVENT, rkey: item.rkey, landed: true },
    ]);
    expect(repo.size(EVENT)).toBe(1);
    expect(repo.get(EVENT, item.rkey)?.json).toEqual(record);
    if (landed) expect(repo.get(EVENT, item.rkey)?.cid).toBe(landedCid);
    expect(await store.listOutbox()).toEqual([]);
    expect(await status(message)).toBe('sent');
  });

  it('while the PDS is down, backs off exponentially up to the cap, loses nothing, then publishes all in order', async () => {
    const repo = new MemoryRepo(DID);
    const { store, clock, deps, enqueue, status, outboxItem } = setup(repo);
    const queued = [await enqueue(), await enqueue(), await enqueue()];
    const head = queued[0]!;

    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      repo.failOnce('put', 1); // the PDS answers nothing
      const now = clock.now();
      const report = await flushOutbox(deps);
      // The flush stops at the first failure: later items are not even tried.
      expect(report).toMatchObject({ published: [], deferred: [head.item.rkey], failed: [] });
      delays.push(report.nextAttemptAt! - now);
      // Before the backoff elapses, nothing after the head may overtake it.
      clock.set(report.nextAttemptAt! - 1);
      expect(await flushOutbox(deps)).toEqual({ published: [], deferred: [], failed: [], nextAttemptAt: report.nextAttemptAt });
      clock.set(report.nextAttemptAt!);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(repo.writes.map((w) => [w.rkey, w.landed])).toEqual(Array(6).fill([head.item.rkey, false]));
    expect(repo.size(EVENT)).toBe(0);
    expect((await store.listOutbox()).map((i) => [i.rkey, i.attempts])).toEqual([
      [queued[0]!.item.rkey, 6],
      [queued[1]!.item.rkey, 0],
      [queued[2]!.item.rkey, 0],
    ]);
    for (const q of queued) expect(await status(q.message)).toBe('sending');
    expect(await outboxItem(head.item.rkey)).toMatchObject({ record: head.record });

    // The PDS is back.
    const report = await flushOutbox(deps);
    const rkeys = queued.map((q) => q.item.rkey);
    expect(report).toEqual({ published: rkeys, deferred: [], failed: [] });
    expect(repo.writes.slice(6).map((w) => w.rkey)).toEqual(rkeys);
    for (const q of queued) {
      expect(repo.get(EVENT, q.item.rkey)?.json).toEqual(q.record);
      expect(await status(q.message)).toBe('sent');
    }
    expect(await store.listOutbox()).toEqual([]);
  });

  it('on a permanent error marks the message failed and parks the item until retryOutboxItem', async () => {
    const inner = new MemoryRepo(DID);
    const { repo, calls, rejections } = wrap(inner);
    const { store, clock, deps, enqueue, status, outboxItem } = setup(repo);
    const bad = await enqueue();
    const good = await enqueue();
    rejections.set(bad.item.rkey, 'InvalidRecord');

    // A parked item does not hold back the ones after it.
    expect(await flushOutbox(deps)).toEqual({ published: [good.item.rkey], deferred: [], failed: [bad.item.rkey] });
    expect(await status(bad.message)).toBe('failed');
    expect(await status(good.message)).toBe('sent');
    const parked = await outboxItem(bad.item.rkey);
    expect(parked).toEqual({ ...bad.item, attempts: 1, nextAttemptAt: Number.POSITIVE_INFINITY });
    expect(isParked(parked!)).toBe(true);

    // Never retried automatically, however long we wait.
    clock.advance(365 * 24 * 3600_000);
    expect(await flushOutbox(deps)).toEqual({ published: [], deferred: [], failed: [] });
    expect(calls.filter((c) => c === `put ${bad.item.rkey}`)).toHaveLength(1);
    expect(inner.size(EVENT)).toBe(1);

    expect(await retryOutboxItem(store, '3lcnosuchitem', clock)).toBe(false);
    rejections.clear(); // e.g. fixed by an update
    expect(await retryOutboxItem(store, bad.item.rkey, clock)).toBe(true);
    expect(await outboxItem(bad.item.rkey)).toEqual({ ...bad.item, attempts: 0, nextAttemptAt: clock.now() });
    expect(await status(bad.message)).toBe('sending');

    expect(await flushOutbox(deps)).toEqual({ published: [bad.item.rkey], deferred: [], failed: [] });
    expect(inner.get(EVENT, bad.item.rkey)?.json).toEqual(bad.record);
    expect(await status(bad.message)).toBe('sent');
    expect(await store.listOutbox()).toEqual([]);
  });

  it('treats a blob too large for the PDS as permanent, without writing the record', async () => {
    const inner = new MemoryRepo(DID);
    const { repo, calls, rejections } = wrap(inner);
    const { deps, enqueue, status, outboxItem } = setup(repo);
    const big = await enqueue({ blob: bytesOf(7, 70_000) });
    rejections.set('upload', 'PayloadTooLarge');

    expect(await flushOutbox(deps)).toEqual({ published: [], deferred: [], failed: [big.item.rkey] });
    expect(calls).toEqual(['upload 70000']);
    expect(inner.size(EVENT)).toBe(0);
    expect(await status(big.message)).toBe('failed');
    expect(isParked((await outboxItem(big.item.rkey))!)).toBe(true);
  });

  it('uploads the blob first, then writes the record carrying its ref', async () => {
    const inner = new MemoryRepo(DID);
    const { repo, calls } = wrap(inner);
    const { store, deps, enqueue, status } = setup(repo);
    const blob = bytesOf(3, 131_072);
    const { item, record, message } = await enqueue({ blob });

    expect(await flushOutbox(deps)).toEqual({ published: [item.rkey], deferred: [], failed: [] });
    expect(calls).toEqual(['upload 131072', `put ${item.rkey}`]);
    expect(inner.uploads).toHaveLength(1);
    const { cid } = inner.uploads[0]!;
    expect(Buffer.from(inner.blob(cid)!).equals(Buffer.from(blob))).toBe(true);
    expect(inner.get(EVENT, item.rkey)?.json).toEqual({
      ...record,
      blob: { $type: 'blob', ref: { $link: cid }, mimeType: 'application/octet-stream', size: 131_072 },
    });
    expect(await store.listOutbox()).toEqual([]);
    expect(await status(message)).toBe('sent');
  });

  it.each([
    { fault: 'upload' as const, what: 'upload' },
    { fault: 'put' as const, what: 'record write' },
  ])('after a lost $what acknowledgement uploads again (same ref) and still writes one record', async ({ fault }) => {
    const repo = new MemoryRepo(DID);
    const { clock, deps, enqueue, status } = setup(repo);
    const blob = bytesOf(5, 70_000);
    const { item, record, message } = await enqueue({ blob });
    repo.failOnce(fault, 1, { landed: true });

    const first = await flushOutbox(deps);
    expect(first).toMatchObject({ published: [], deferred: [item.rkey] });
    expect(repo.size(EVENT)).toBe(fault === 'put' ? 1 : 0);

    clock.set(first.nextAttemptAt!);
    expect(await flushOutbox(deps)).toEqual({ published: [item.rkey], deferred: [], failed: [] });
    expect(repo.uploads).toHaveLength(2);
    expect(repo.uploads.every((u) => u.landed && u.cid === repo.uploads[0]!.cid)).toBe(true);
    expect(repo.writes.map((w) => w.rkey)).toEqual(fault === 'put' ? [item.rkey, item.rkey] : [item.rkey]);
    expect(repo.size(EVENT)).toBe(1);
    expect(repo.get(EVENT, item.rkey)?.json).toEqual({
      ...record,
      blob: { $type: 'blob', ref: { $link: repo.uploads[0]!.cid }, mimeType: 'application/octet-stream', size: 70_000 },
    });
    expect(await status(message)).toBe('sent');
  });

  it('publishes in createdAt order, whatever the order the items were stored in', async () => {
    const repo = new MemoryRepo(DID);
    const { deps, enqueue } = setup(repo);
    const c = await enqueue({ createdAt: T0 - 10 });
    const a = await enqueue({ createdAt: T0 - 30 });
    const b = await enqueue({ createdAt: T0 - 20, blob: bytesOf(9, 70_000) });

    const report = await flushOutbox(deps);
    expect(report.published).toEqual([a.item.rkey, b.item.rkey, c.item.rkey]);
    expect(repo.writes.map((w) => w.rkey)).toEqual([a.item.rkey, b.item.rkey, c.item.rkey]);
  });

  it('publishes each item once when flushes overlap', async () => {
    const inner = new MemoryRepo(DID);
    const { repo, calls } = wrap(inner, { delay: true });
    const { store, deps, enqueue } = setup(repo);
    const queued = [await enqueue(), await enqueue({ blob: bytesOf(1, 70_000) }), await enqueue()];

    const reports = await Promise.all([flushOutbox(deps), flushOutbox(deps), flushOutbox(deps)]);

    const rkeys = queued.map((q) => q.item.rkey);
    expect(calls.filter((c) => c.startsWith('put ')).sort()).toEqual(rkeys.map((r) => `put ${r}`).sort());
    expect(calls.filter((c) => c.startsWith('upload '))).toHaveLength(1);
    expect(reports.flatMap((r) => r.published)).toEqual(rkeys);
    expect(reports.slice(1)).toEqual([
      { published: [], deferred: [], failed: [] },
      { published: [], deferred: [], failed: [] },
    ]);
    expect(inner.writes.map((w) => w.rkey)).toEqual(rkeys);
    expect(await store.listOutbox()).toEqual([]);
  });

  it('a retry requested during a flush waits for it, so a published message is not reset to sending', async () => {
    const inner = new MemoryRepo(DID);
    const { repo } = wrap(inner, { delay: true });
    const { store, clock, deps, enqueue, status } = setup(repo);
    const { item, message } = await enqueue();

    const [report, retried] = await Promise.all([flushOutbox(deps), retryOutboxItem(store, item.rkey, clock)]);
    expect(report.published).toEqual([item.rkey]);
    expect(retried).toBe(false);
    expect(await status(message)).toBe('sent');
    expect(await store.listOutbox()).toEqual([]);
  });

  it('a flush whose transaction aborts does not jam the next one, which rewrites the same rkey', async () => {
    const repo = new MemoryRepo(DID);
    const { store, deps, enqueue, status } = setup(repo);
    const { item, record, message } = await enqueue();
    store.failApplyOnce();

    await expect(flushOutbox(deps)).rejects.toThrow('transaction aborted');
    expect(await store.listOutbox()).toEqual([item]);
    expect(await status(message)).toBe('sending');

    expect(await flushOutbox(deps)).toEqual({ published: [item.rkey], deferred: [], failed: [] });
    expect(repo.writes.map((w) => w.rkey)).toEqual([item.rkey, item.rkey]);
    expect(repo.size(EVENT)).toBe(1);
    expect(repo.get(EVENT, item.rkey)?.json).toEqual(record);
    expect(await status(message)).toBe('sent');
  });
});

describe('retryDelay', () => {
  it('doubles from baseMs and is capped at maxMs', () => {
    const delays = [1, 2, 3, 4, 5, 10, 100, 5000].map((n) => retryDelay(POLICY, n, '3lc2222222222'));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000]);
  });

  it('with jitter, only shortens each delay, by at most the fraction, deterministically', () => {
    const policy = { baseMs: 1_000, maxMs: 60_000, jitter: 0.25 };
    const rkeys = Array.from({ length: 50 }, (_, i) => `3lc22222222${(i + 10).toString(32)}`);
    for (let attempts = 1; attempts <= 8; attempts++) {
      const plain = Math.min(60_000, 1_000 * 2 ** (attempts - 1));
      const delays = rkeys.map((r) => retryDelay(policy, attempts, r));
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(plain * 0.75);
        expect(d).toBeLessThanOrEqual(plain);
      }
      expect(new Set(delays).size).toBeGreaterThan(1);
      expect(rkeys.map((r) => retryDelay(policy, attempts, r))).toEqual(delays);
    }
  });
});
