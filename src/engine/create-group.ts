import { toHex } from '../bytes';
import { AtmError } from '../errors';
import { groupConversation, groupId as mlsGroupId, members, type GroupState } from '../mls';
import { sealInvite, sealInviteBundle, sealInviteReference } from '../protocol/invite';
import { didOfIdentity } from '../protocol/device-uri';
import type { DeliveryDeps } from './delivery-deps';
import type { ChangeSet, GroupOrigin, GroupRecord, OutboxItem } from './delivery-state';
import { epochRecordFor } from './epochs';
import { encodeState, eventOutboxItem } from './group-events';
import { createGroupWithDevices, type GroupProgress, type NewGroup } from './groups';
import type { DeviceKeyPackage } from './key-package-directory';
import type { AuthenticationService } from './authentication-service';

export function didsOf(state: GroupState): string[] {
  const dids = new Set<string>();
  for (const m of members(state)) {
    const did = didOfIdentity(m.identity);
    if (did) dids.add(did);
  }
  return [...dids].sort();
}

/**
 * A fresh GroupRecord for a state this device just created or joined. `origin` defaults to
 * 'joined': the one caller that creates (createGroupForDids) says so, every other new record
 * comes from a Welcome.
 */
export async function newGroupRecord(
  deps: Pick<DeliveryDeps, 'mls' | 'clock'>,
  state: GroupState,
  convoId?: string,
  origin: GroupOrigin = 'joined',
): Promise<GroupRecord> {
  const now = deps.clock.now();
  const conversation = convoId ?? groupConversation(state);
  return {
    groupId: toHex(mlsGroupId(state)),
    ...(conversation ? { convoId: conversation } : {}),
    state: encodeState(state),
    current: await epochRecordFor(deps.mls, state),
    retained: [],
    memberDids: didsOf(state),
    active: true,
    origin,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Creates a group with every device the DIDs publish (ours included), and one stealth invite
 * per added device (docs/protocol.md §6.6), sealed to the invite key of its CAR-verified device
 * record. The group and the invites are stored together; the outbox publishes the invites.
 */
export async function createGroupForDids(
  deps: DeliveryDeps & { as: AuthenticationService },
  dids: readonly string[],
  convoId?: string,
): Promise<{ changes: ChangeSet; group: GroupRecord; created: NewGroup }> {
  // A device that knows conversations spends other people's key packages only for one (§6.6).
  if (deps.conversationDids && convoId === undefined) {
    throw new AtmError('InvalidInput', 'a group is made for a conversation');
  }
  // Progress is told per conversation: the shell shows it in that conversation's panel.
  const onProgress = deps.onGroupProgress && ((p: GroupProgress) => deps.onGroupProgress!({ ...p, ...(convoId ? { convoId } : {}) }));
  const created = await createGroupWithDevices(deps, dids, convoId, onProgress);
  const group = await newGroupRecord(deps, created.state, convoId, 'created');
  const putOutbox =
    created.welcome && created.ratchetTree
      ? await invitesFor(deps, created.added, created.welcome, created.ratchetTree, onProgress)
      : [];
  return { changes: { putGroups: [group], putOutbox }, group, created };
}

/**
 * Stealth invites for the devices one commit adds (docs/protocol.md §6.6), each sealed to the
 * invite key of its proven device record. One device gets the Welcome and tree itself; several
 * get a small reference each to one bundle holding them, sealed once and published first (its
 * rkey is chosen first, and the outbox publishes in rkey order).
 */
export async function invitesFor(
  deps: Pick<DeliveryDeps, 'clock' | 'newTid'> & { as: AuthenticationService },
  added: readonly DeviceKeyPackage[],
  welcome: Uint8Array,
  ratchetTree: Uint8Array,
  onProgress?: (progress: GroupProgress) => void,
): Promise<OutboxItem[]> {
  const inviteKeys: Uint8Array[] = [];
  onProgress?.({ phase: 'invites', done: 0, total: added.length });
  for (const device of added) {
    const identity = `at://${device.did}/org.atmessaging.device/${device.device}`;
    // Cached from the key package check: the invite key is from the same proven record.
    const verified = await deps.as.verify(identity, device.keyPackage.leafNode.signaturePublicKey);
    inviteKeys.push(verified.record.inviteKey);
  }
  if (inviteKeys.length === 1) {
    const invite = await sealInvite(inviteKeys[0]!, welcome, ratchetTree);
    onProgress?.({ phase: 'invites', done: 1, total: 1 });
    return [eventOutboxItem(deps, invite.tag, invite.ciphertext)];
  }
  const bundle = await sealInviteBundle(welcome, ratchetTree);
  const bundleItem = eventOutboxItem(deps, bundle.tag, bundle.ciphertext);
  const out: OutboxItem[] = [bundleItem];
  for (const inviteKey of inviteKeys) {
    const invite = await sealInviteReference(inviteKey, { rkey: bundleItem.rkey, key: bundle.key });
    out.push(eventOutboxItem(deps, invite.tag, invite.ciphertext));
    onProgress?.({ phase: 'invites', done: out.length - 1, total: added.length });
  }
  return out;
}
