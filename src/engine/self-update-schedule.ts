import type { DeliveryPolicy } from './delivery-deps';
import type { GroupRecord } from './delivery-state';

/**
 * Post-compromise security (docs/protocol.md §6.10): a device refreshes its own path keys at
 * least every `selfUpdateIntervalMs` and after `selfUpdateMessages` messages of its own, so a
 * stolen snapshot of its state stops decrypting soon after. Groups it can no longer send in
 * (removed, superseded) and groups with a commit already waiting are left alone.
 */
export function selfUpdateDue(
  policy: Pick<DeliveryPolicy, 'selfUpdateIntervalMs' | 'selfUpdateMessages'>,
  group: GroupRecord,
  now: number,
): boolean {
  if (!group.active || group.supersededBy || group.deferred) return false;
  const since = group.lastPathUpdateAt ?? group.createdAt;
  return now - since >= policy.selfUpdateIntervalMs || (group.sentSinceUpdate ?? 0) >= policy.selfUpdateMessages;
}
