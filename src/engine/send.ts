import { AtmError } from '../errors';
import { encryptApplicationMessage, type GroupState } from '../mls';
import { encodeContent, TEXT_TYPE, type TextContent } from '../protocol/content';
import { didsOf } from './create-group';
import { randomId, type DeliveryDeps } from './delivery-deps';
import { messageKey, type ChangeSet, type GroupRecord, type MessageRecord } from './delivery-state';
import { encodeState, groupState, loadGroup, ownLeaf, sealOwnEvent } from './group-events';

/**
 * §6.9: a group that stands for a conversation is sent to only while everyone in it is in the
 * conversation. Someone who left may still hold a leaf until their removal is committed, and
 * must read nothing sent after they left: until then nothing is sent there.
 */
export async function standsForConversation(
  deps: Pick<DeliveryDeps, 'belongsToConversation'>,
  group: GroupRecord,
  state: GroupState,
): Promise<boolean> {
  if (!group.convoId || !deps.belongsToConversation) return true;
  return deps.belongsToConversation(group.convoId, didsOf(state));
}

/**
 * Encrypts `content` on the group's current state and queues it. Returns the group as it must
 * be stored, with the outbox item: the state and the counter it consumed are saved before the
 * event is ever published, so a restart never re-uses a ratchet generation or a tag.
 */
export async function sealContent(
  deps: DeliveryDeps,
  group: GroupRecord,
  state: GroupState,
  content: TextContent,
): Promise<{ group: GroupRecord; changes: ChangeSet }> {
  if (!(await standsForConversation(deps, group, state))) {
    throw new AtmError('NotMember', 'someone in the group has left the conversation: their removal comes first', {
      groupId: group.groupId,
    });
  }
  const encrypted = await encryptApplicationMessage(deps.mls, state, encodeContent(content));
  const sealed = await sealOwnEvent(deps, group.current, ownLeaf(state), encrypted.message, {
    groupId: group.groupId,
    id: messageKey(content.id, deps.device.uri),
  });
  const next: GroupRecord = {
    ...group,
    state: encodeState(encrypted.newState),
    current: sealed.current,
    ...(group.parent ? { parent: { ...group.parent, sentSince: [...group.parent.sentSince, content.id] } } : {}),
    sentSinceUpdate: (group.sentSinceUpdate ?? 0) + 1,
    updatedAt: deps.clock.now(),
  };
  return { group: next, changes: { putOutbox: [sealed.item] } };
}

/** Sends a text message to a group: stored as 'sending' and queued for our repo in one step. */
export async function sendText(
  deps: DeliveryDeps,
  groupId: string,
  text: string,
): Promise<{ changes: ChangeSet; message: MessageRecord }> {
  const group = await loadGroup(deps, groupId);
  if (!group.active) throw new AtmError('NotMember', 'this device was removed from the group', { groupId });
  if (group.supersededBy) {
    throw new AtmError('NotMember', 'this group was superseded by another for the same conversation', {
      groupId,
      supersededBy: group.supersededBy,
    });
  }
  const now = deps.clock.now();
  const content: TextContent = { $type: TEXT_TYPE, id: randomId(), text, sentAt: now };
  const sealed = await sealContent(deps, group, groupState(deps, group), content);
  const message: MessageRecord = {
    groupId,
    id: messageKey(content.id, deps.device.uri),
    contentId: content.id,
    senderUri: deps.device.uri,
    text,
    sentAt: now,
    receivedAt: now,
    own: true,
    status: 'sending',
  };
  return {
    changes: { ...sealed.changes, putGroups: [sealed.group], putMessages: [message] },
    message,
  };
}
