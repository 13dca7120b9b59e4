import { AtmError } from '../errors';
import { encryptApplicationMessage, type GroupState } from '../mls';
import { encodeContent, TEXT_TYPE, type TextContent } from '../protocol/content';
import { didsOf } from './create-group';
import { isNotInConversation, randomId, type DeliveryDeps } from './delivery-deps';
import { messageKey, type ChangeSet, type GroupRecord, type MessageRecord } from './delivery-state';
import { encodeState, groupState, loadGroup, ownLeaf, sealOwnEvent } from './group-events';

/**
 * How a group stands for the conversation it names (§6.8, §6.9):
 * - `stands`: every member is in the conversation (or the group names none): it may be sent to;
 * - `leaving`: the only members outside it were members when this device last saw the group
 *   stand (`stoodWith`): they left, and nothing is sent until their removal is committed; the
 *   group is still the conversation's;
 * - `not`: someone who was never in the conversation is a member, this device is not in the
 *   conversation, or the chat service cannot say: never used for the conversation.
 */
export type Standing = 'stands' | 'leaving' | 'not';

export async function conversationStanding(
  deps: Pick<DeliveryDeps, 'conversationDids' | 'device'>,
  group: GroupRecord,
  memberDids: readonly string[],
  options: { fresh?: boolean } = {},
): Promise<Standing> {
  if (!group.convoId || !deps.conversationDids) return 'stands';
  let people: Set<string>;
  try {
    people = new Set(await deps.conversationDids(group.convoId, options));
  } catch (error) {
    // Asked afresh while the service cannot answer: the last answer it gave stands, as for
    // every other use. Told we are not in it, or no answer at all: fail closed.
    if (options.fresh && !isNotInConversation(error)) return conversationStanding(deps, group, memberDids);
    return 'not';
  }
  const outside = memberDids.filter((did) => !people.has(did));
  if (outside.length === 0) return 'stands';
  const stood = new Set(group.stoodWith ?? []);
  if (outside.includes(deps.device.did) || !outside.every((did) => stood.has(did))) return 'not';
  return 'leaving';
}

/**
 * §6.9: a group that stands for a conversation is sent to only while everyone in it is in the
 * conversation. Someone who left may still hold a leaf until their removal is committed, and
 * must read nothing sent after they left: until then nothing is sent there. `fresh`: asked of
 * the chat service now, as every send does, so a device sends nothing to someone who left from
 * the moment the service says so.
 */
export async function standsForConversation(
  deps: Pick<DeliveryDeps, 'conversationDids' | 'device'>,
  group: GroupRecord,
  state: GroupState,
  options: { fresh?: boolean } = {},
): Promise<boolean> {
  return (await conversationStanding(deps, group, didsOf(state), options)) === 'stands';
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

/**
 * Sends a text message to a group: stored as 'sending' and queued for our repo in one step.
 * While someone who left is still in the group (§6.9) the message is held instead (`held`): it
 * is sealed and queued once their removal is committed, with the same id.
 */
export async function sendText(
  deps: DeliveryDeps,
  groupId: string,
  text: string,
): Promise<{ changes: ChangeSet; message: MessageRecord; held: boolean }> {
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
  const state = groupState(deps, group);
  const standing = await conversationStanding(deps, group, didsOf(state), { fresh: true });
  if (standing === 'not') {
    throw new AtmError('NotMember', 'this group does not stand for a conversation this device is in', { groupId });
  }
  if (standing === 'leaving') {
    const held: GroupRecord = { ...group, resendPending: [...(group.resendPending ?? []), content.id], updatedAt: now };
    return { changes: { putGroups: [held], putMessages: [message] }, message, held: true };
  }
  const sealed = await sealContent(deps, group, state, content);
  return {
    changes: { ...sealed.changes, putGroups: [sealed.group], putMessages: [message] },
    message,
    held: false,
  };
}
