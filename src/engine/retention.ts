import type { DeliveryDeps } from './delivery-deps';

/**
 * Authors delete their own events once every member had `retentionMs` to read them
 * (docs/protocol.md §7): old ciphertext does not stay in a public repo forever. The record is
 * deleted first; a crash before the local row goes just deletes the (absent) record again.
 */
export async function deleteExpiredEvents(deps: DeliveryDeps): Promise<string[]> {
  const cutoff = deps.clock.now() - deps.policy.retentionMs;
  const deleted: string[] = [];
  for (const event of await deps.store.listOwnEvents()) {
    if (event.publishedAt > cutoff) break; // oldest first
    await deps.repo.deleteRecord(event.collection, event.rkey);
    await deps.store.apply({ deleteOwnEvents: [event.rkey] });
    deleted.push(event.rkey);
  }
  return deleted;
}
