import { AtmError, isAtmError } from '../errors';
import type { DeliveryStore, OutboxItem } from './delivery-state';
import type { Clock, OwnRepo } from './ports';

/**
 * Publishes the outbox: the record writes that use cases committed locally (with the state that
 * produced them) and that must now reach our own repo (docs/protocol.md §6.4, §6.5).
 *
 * - Each item is written under the rkey chosen when it was made, so a retry after a lost answer
 *   rewrites the same record with the same bytes (putRecord is idempotent): never a duplicate.
 * - Items go out one at a time, oldest `createdAt` first, because the events of one sender must
 *   reach the repo in order. An item waiting out its backoff therefore holds back every later one.
 * - A Network error is transient: the item is kept (nothing is ever dropped), retried after an
 *   exponential backoff, and the flush stops there (the PDS is probably down).
 * - Any other error is permanent: retrying the same bytes cannot help. The item is kept for
 *   inspection but parked (`nextAttemptAt = PARKED`, i.e. +Infinity: `OutboxItem` has no status
 *   field, and Infinity sorts after every time and is a valid IndexedDB key), its message is
 *   marked 'failed', and later items are no longer held back by it. `retryOutboxItem` unparks it.
 */

export interface RetryPolicy {
  /** Delay after the first failed attempt; each further failure doubles it. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /**
   * In [0, 1): each delay is shortened by up to this fraction, derived from the rkey and attempt
   * number (deterministic, so tests and logs are reproducible), so that clients retrying a PDS
   * that comes back do not all arrive at once.
   */
  jitter?: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 5_000, maxMs: 10 * 60_000, jitter: 0.2 };

/** `nextAttemptAt` of an item that failed permanently: never retried until `retryOutboxItem`. */
export const PARKED = Number.POSITIVE_INFINITY;

export function isParked(item: OutboxItem): boolean {
  return !Number.isFinite(item.nextAttemptAt);
}

export interface OutboxDeps {
  store: DeliveryStore;
  repo: OwnRepo;
  clock: Clock;
  policy?: RetryPolicy;
}

export interface FlushReport {
  /** Rkeys acknowledged by the PDS in this flush, in publication order. */
  published: string[];
  /** Rkeys that failed transiently and will be retried after a backoff. */
  deferred: string[];
  /** Rkeys that failed permanently in this flush and are now parked. */
  failed: string[];
  /** When to flush again (an alarm); absent when nothing is waiting except parked items. */
  nextAttemptAt?: number;
}

/** Delay before attempt `attempts + 1`, `attempts` (≥ 1) being the failed attempts so far. */
export function retryDelay(policy: RetryPolicy, attempts: number, rkey: string): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 52);
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  const jitter = Math.min(Math.max(policy.jitter ?? 0, 0), 0.99);
  return Math.round(capped * (1 - jitter * unitHash(`${rkey}:${attempts}`)));
}

/**
 * Runs one pass over the outbox. Flushes of the same store object are serialized (see `serialized`):
 * a flush started while another runs waits for it, then reads the outbox afresh, so an item is
 * never published by two flushes at once.
 */
export function flushOutbox(deps: OutboxDeps): Promise<FlushReport> {
  return serialized(deps.store, () => flush(deps));
}

/**
 * Makes one item due now (the panel's retry button): a parked item gets another chance, a
 * deferred one skips the rest of its backoff. Its message goes back to 'sending'. Returns false
 * when no item has this rkey (already published). The caller then flushes.
 */
export function retryOutboxItem(store: DeliveryStore, rkey: string, clock: Clock): Promise<boolean> {
  // Serialized with flushes: a flush publishing this very item must not have its 'sent' overwritten.
  return serialized(store, async () => {
    const item = (await store.listOutbox()).find((i) => i.rkey === rkey);
    if (!item) return false;
    const message = item.message && (await store.getMessage(item.message.groupId, item.message.id));
    await store.apply({
      putOutbox: [{ ...item, attempts: 0, nextAttemptAt: clock.now() }],
      ...(message ? { putMessages: [{ ...message, status: 'sending' as const }] } : {}),
    });
    return true;
  });
}

async function flush(deps: OutboxDeps): Promise<FlushReport> {
  const { store, repo, clock } = deps;
  const policy = deps.policy ?? DEFAULT_RETRY_POLICY;
  const report: FlushReport = { published: [], deferred: [], failed: [] };
  // The store lists oldest first already; ties go to the rkey, a TID, i.e. creation order.
  const items = [...(await store.listOutbox())].sort(
    (a, b) => a.createdAt - b.createdAt || (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0),
  );
  for (const item of items) {
    if (isParked(item)) continue;
    if (item.nextAttemptAt > clock.now()) {
      // Head of the line is still backing off: nothing after it may overtake it.
      report.nextAttemptAt = item.nextAttemptAt;
      break;
    }
    try {
      await publish(repo, item);
    } catch (error) {
      const attempts = item.attempts + 1;
      if (isAtmError(error, 'Network')) {
        const nextAttemptAt = clock.now() + retryDelay(policy, attempts, item.rkey);
        await store.apply({ putOutbox: [{ ...item, attempts, nextAttemptAt }] });
        report.deferred.push(item.rkey);
        report.nextAttemptAt = nextAttemptAt;
        break;
      }
      await settle(store, item, 'failed', clock.now(), { ...item, attempts, nextAttemptAt: PARKED });
      report.failed.push(item.rkey);
      continue;
    }
    await settle(store, item, 'sent', clock.now());
    report.published.push(item.rkey);
  }
  return report;
}

/** One write to the repo: the blob first (§6.5), then the record under its rkey. */
async function publish(repo: OwnRepo, item: OutboxItem): Promise<void> {
  let record = item.record;
  if (item.blob) {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new AtmError('InvalidRecord', 'an outbox record carrying a blob must be an object', {
        collection: item.collection,
        rkey: item.rkey,
      });
    }
    // Uploaded on every attempt, never cached: the PDS garbage-collects blobs no record
    // references, and re-uploading the same bytes yields the same ref anyway.
    const ref = await repo.uploadBlob(item.blob);
    record = { ...record, blob: ref };
  }
  await repo.putRecord(item.collection, item.rkey, record);
}

/** The item's outcome and its message's status, in one transaction. */
async function settle(
  store: DeliveryStore,
  item: OutboxItem,
  status: 'sent' | 'failed',
  now: number,
  keep?: OutboxItem,
): Promise<void> {
  // A message deleted meanwhile has no status to follow the write.
  const message = item.message && (await store.getMessage(item.message.groupId, item.message.id));
  await store.apply({
    ...(keep ? { putOutbox: [keep] } : { deleteOutbox: [item.rkey] }),
    ...(message ? { putMessages: [{ ...message, status }] } : {}),
    // Remembered so its author deletes it after the retention period (docs/protocol.md §7).
    ...(status === 'sent' && !keep ? { putOwnEvents: [{ rkey: item.rkey, collection: item.collection, publishedAt: now }] } : {}),
  });
}

/**
 * One promise chain per store object (module-level, weakly held): tasks on the same store run
 * one after another, a failed task does not block the next. It guards one JS context (the
 * background) holding one store object per database, which is how the background is wired.
 */
const chains = new WeakMap<DeliveryStore, Promise<void>>();

function serialized<T>(store: DeliveryStore, task: () => Promise<T>): Promise<T> {
  const tail = chains.get(store) ?? Promise.resolve();
  const result = tail.then(task);
  chains.set(
    store,
    result.then(
      () => undefined,
      () => undefined,
    ),
  );
  return result;
}

/** FNV-1a of a string, as a number in [0, 1). */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}
