import { fromHex } from '../bytes';
import { AtmError } from '../errors';
import { decodeGroupState, encodeGroupState, ownLeafIndex, type GroupState } from '../mls';
import { sealEnvelope } from '../protocol/envelope';
import { EVENT, EVENT_COLLECTION_NSID, recordJson } from '../protocol/records';
import { isBlobSized } from '../protocol/padding';
import { eventTag } from '../protocol/tags';
import type { DeliveryDeps } from './delivery-deps';
import type { EpochRecord, GroupRecord, OutboxItem } from './delivery-state';

/** Loads a group this device can send in, with the parent dropped if its epoch is final. */
export async function loadGroup(deps: DeliveryDeps, groupId: string): Promise<GroupRecord> {
  const group = await deps.store.getGroup(groupId);
  if (!group) throw new AtmError('NotMember', 'no such group on this device', { groupId });
  return settleFinality(deps, group);
}

export function groupState(deps: DeliveryDeps, group: GroupRecord): GroupState {
  return decodeGroupState(deps.mls, group.state);
}

/** Whether a complete read of every repo began at least `finalityMs` after `since` (§6.7). */
function readSince(deps: Pick<DeliveryDeps, 'policy' | 'reads'>, since: number): boolean {
  return deps.reads.completeReadStartedAt >= since + deps.policy.finalityMs;
}

/**
 * §6.7 rule 4: the epoch is final once a complete read, begun `finalityMs` after the winning
 * commit was applied, has been made: every better commit an honest member could still publish
 * was in a repo by then. The parent state (and with it the losing branches' only way back) is
 * deleted, for forward secrecy. Time alone never makes an epoch final: a device that slept
 * through the window reads before it decides.
 */
export function settleFinality(deps: Pick<DeliveryDeps, 'policy' | 'reads'>, group: GroupRecord): GroupRecord {
  if (group.parent && readSince(deps, group.parent.appliedAt)) {
    const { parent: _dropped, ...rest } = group;
    return rest;
  }
  return group;
}

/**
 * §6.7 rule 5: whether this device may commit on the group's current epoch now: the epoch is
 * final, and a device that joined from a Welcome has made a complete read `finalityMs` after it
 * joined (it cannot know when the others applied the commit that added it).
 */
export function mayCommit(deps: Pick<DeliveryDeps, 'policy' | 'reads'>, group: GroupRecord): boolean {
  if (settleFinality(deps, group).parent) return false;
  return !(group.origin === 'joined' && !readSince(deps, group.createdAt));
}

/**
 * When the read that could make this group's epoch final (or let a joiner commit) is due, if one
 * is still to come: the delivery runner reads everything then.
 */
export function finalityReadDueAt(deps: Pick<DeliveryDeps, 'policy' | 'reads'>, group: GroupRecord): number | undefined {
  const since = group.parent ? group.parent.appliedAt : group.origin === 'joined' ? group.createdAt : undefined;
  if (since === undefined || readSince(deps, since)) return undefined;
  return since + deps.policy.finalityMs;
}

/**
 * Seals one of our MLS messages of the current epoch as an event (§6.3, §6.4): takes the next
 * counter of our leaf, and returns the outbox item plus the epoch record with the counter
 * advanced. The caller stores both in one transaction before anything is published.
 */
export async function sealOwnEvent(
  deps: DeliveryDeps,
  current: EpochRecord,
  ownLeaf: number,
  mlsMessage: Uint8Array,
  message?: OutboxItem['message'],
): Promise<{ item: OutboxItem; current: EpochRecord }> {
  const tag = await eventTag(current.tagKey, ownLeaf, current.nextCounter);
  const ciphertext = await sealEnvelope(current.envelopeKey, tag, mlsMessage);
  const item = eventOutboxItem(deps, tag, ciphertext, message);
  return { item, current: { ...current, nextCounter: current.nextCounter + 1 } };
}

/**
 * The outbox item for one sealed event: the ciphertext inline when it has a record size, or
 * uploaded as a blob first when it has a blob size (§6.5). The rkey is chosen now, once.
 */
export function eventOutboxItem(
  deps: Pick<DeliveryDeps, 'clock' | 'newTid'>,
  tag: Uint8Array,
  ciphertext: Uint8Array,
  message?: OutboxItem['message'],
): OutboxItem {
  const now = deps.clock.now();
  const asBlob = isBlobSized(ciphertext.length);
  return {
    rkey: deps.newTid(),
    collection: EVENT_COLLECTION_NSID,
    record: recordJson(EVENT, EVENT.$build(asBlob ? { tag } : { tag, ciphertext })),
    ...(asBlob ? { blob: ciphertext } : {}),
    createdAt: now,
    attempts: 0,
    nextAttemptAt: now,
    ...(message ? { message } : {}),
  };
}

export function ownLeaf(state: GroupState): number {
  return ownLeafIndex(state);
}

export function encodeState(state: GroupState): Uint8Array {
  return encodeGroupState(state);
}

export function groupIdBytes(group: GroupRecord): Uint8Array {
  return fromHex(group.groupId);
}
