import { isNotInConversation, type DeliveryDeps } from './delivery-deps';
import type { ChangeSet, EpochRecord, GroupRecord } from './delivery-state';

/**
 * §6.8: the groups of conversations this device's account is no longer in (it left, or was
 * removed from the conversation) are left. The device stops reading and maintaining them and
 * deletes their MLS state and epoch keys, so nothing it could still decrypt is kept; their
 * messages stay, as history. The other members remove its leaf (§6.9).
 *
 * Only the chat service saying so counts, asked afresh after the cached list said so: a failure
 * to ask decides nothing, since a group left by mistake could not be taken back.
 */
export async function leaveGroupsOfLeftConversations(
  deps: Pick<DeliveryDeps, 'store' | 'conversationDids' | 'device' | 'clock'>,
): Promise<ChangeSet[]> {
  if (!deps.conversationDids) return [];
  const out: ChangeSet[] = [];
  for (const group of await deps.store.listGroups()) {
    if (!group.active || !group.convoId) continue;
    if (await stillIn(deps, group.convoId, {})) continue;
    if (await stillIn(deps, group.convoId, { fresh: true })) continue;
    out.push({ putGroups: [await leftGroup(group, deps.clock.now())] });
  }
  return out;
}

async function stillIn(
  deps: Pick<DeliveryDeps, 'conversationDids' | 'device'>,
  convoId: string,
  options: { fresh?: boolean },
): Promise<boolean> {
  try {
    return (await deps.conversationDids!(convoId, options)).includes(deps.device.did);
  } catch (error) {
    // The chat service refused because this account is not in the conversation: out. Anything
    // else (offline, a server error) decides nothing.
    return !isNotInConversation(error);
  }
}

/**
 * The record of a group this device left: its id, conversation and times stay (its messages are
 * stored under it, and a later invite must still be newer than the epoch it reached); its state,
 * parent and every epoch key go.
 */
export async function leftGroup(group: GroupRecord, now: number): Promise<GroupRecord> {
  const {
    parent: _parent,
    resendPending: _resend,
    deferred: _deferred,
    stoodWith: _stood,
    supersededBy: _superseded,
    ...kept
  } = group;
  return {
    ...kept,
    state: new Uint8Array(0),
    current: await keylessEpoch(group.current.epoch),
    retained: [],
    memberDids: [],
    active: false,
    leftAt: now,
    updatedAt: now,
  };
}

/**
 * An epoch record that opens nothing: its number is kept (invites are refused at or below it,
 * §6.6), its keys are new random ones nobody holds, and it expects no tags.
 */
async function keylessEpoch(epoch: string): Promise<EpochRecord> {
  const envelopeKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const tagKey = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return { epoch, envelopeKey, tagKey, tags: { leaves: [] }, nextCounter: 0 };
}
