import { fromHex, toHex } from '../bytes';
import { AtmError } from '../errors';
import { decodeGroupState } from '../mls';
import { TEXT_TYPE } from '../protocol/content';
import type { DeliveryDeps } from './delivery-deps';
import type { ChangeSet, GroupRecord, MessageRecord } from './delivery-state';
import { conversationStanding, sealContent, sendText } from './send';

/** §6.8: a group's rank is SHA-256 of its group id; the smallest wins its conversation. */
async function groupRank(groupId: string): Promise<string> {
  const bytes = fromHex(groupId) as Uint8Array<ArrayBuffer>;
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

async function winnerOf(groups: GroupRecord[]): Promise<GroupRecord | undefined> {
  let best: { group: GroupRecord; rank: string } | undefined;
  for (const group of groups) {
    const rank = await groupRank(group.groupId);
    if (!best || rank < best.rank) best = { group, rank };
  }
  return best?.group;
}

/**
 * The active groups that name a conversation and may stand for it: a group whose creator named
 * the conversation but added someone who is not in it is never used for it. One that waits for
 * the removal of someone who left still is (§6.9: sending to it waits).
 */
async function byConversation(
  deps: Pick<DeliveryDeps, 'conversationDids' | 'device'>,
  groups: GroupRecord[],
  convoId: string,
): Promise<GroupRecord[]> {
  const out: GroupRecord[] = [];
  for (const g of groups) {
    if (g.convoId !== convoId || !g.active) continue;
    if ((await conversationStanding(deps, g, g.memberDids)) === 'not') continue;
    out.push(g);
  }
  return out;
}

/** The group new messages of a conversation go to, if this device is in one. */
export async function conversationGroup(
  deps: Pick<DeliveryDeps, 'store' | 'conversationDids' | 'device'>,
  convoId: string,
): Promise<GroupRecord | undefined> {
  return winnerOf(await byConversation(deps, await deps.store.listConvoGroups(convoId), convoId));
}

/**
 * When two members turned encryption on for one conversation at once, this device can be in
 * two groups for it. Every member keeps the same one (smallest rank, §6.8), marks the others
 * superseded, and re-sends into the winner its own messages the winner does not have yet
 * (same ids: readers drop duplicates).
 */
export async function resolveConversationGroups(deps: DeliveryDeps): Promise<ChangeSet[]> {
  const groups = await deps.store.listGroups();
  const out: ChangeSet[] = [];
  for (const convoId of new Set(groups.flatMap((g) => (g.convoId ? [g.convoId] : [])))) {
    const candidates = await byConversation(deps, groups, convoId);
    const winner = await winnerOf(candidates);
    if (!winner) continue;
    const losers = candidates.filter((g) => g !== winner && g.supersededBy !== winner.groupId);
    if (losers.length === 0) continue;
    let target = winner;
    const changes: ChangeSet = { putGroups: [], putOutbox: [], putMessages: [] };
    for (const loser of losers) {
      changes.putGroups!.push({ ...loser, supersededBy: winner.groupId, updatedAt: deps.clock.now() });
      for (const message of await deps.store.listMessages(loser.groupId)) {
        if (!message.own || (await deps.store.getMessage(winner.groupId, message.id))) continue;
        const sealed = await sealContent(deps, target, decodeGroupState(deps.mls, target.state), {
          $type: TEXT_TYPE,
          id: message.contentId,
          text: message.text,
          sentAt: message.sentAt,
        });
        target = sealed.group;
        changes.putOutbox!.push(...(sealed.changes.putOutbox ?? []));
        changes.putMessages!.push({ ...message, groupId: winner.groupId, status: 'sending' });
      }
    }
    changes.putGroups!.push(target);
    out.push(changes);
  }
  return out;
}

/** Sends to the conversation's group (the winner, if there are several). */
export async function sendToConversation(
  deps: DeliveryDeps,
  convoId: string,
  text: string,
): Promise<{ changes: ChangeSet; message: MessageRecord; held: boolean }> {
  const group = await conversationGroup(deps, convoId);
  if (!group) throw new AtmError('NotMember', 'no encrypted group for this conversation', { convoId });
  return sendText(deps, group.groupId, text);
}

/**
 * A conversation's history across its groups: one entry per message id (re-sends and the same
 * message in two groups count once), oldest first.
 */
export async function conversationMessages(
  deps: Pick<DeliveryDeps, 'store' | 'conversationDids' | 'device'>,
  convoId: string,
): Promise<MessageRecord[]> {
  const named = await deps.store.listConvoGroups(convoId);
  const groups: GroupRecord[] = [];
  for (const g of named) {
    if ((await conversationStanding(deps, g, g.memberDids)) !== 'not') groups.push(g);
  }
  const byId = new Map<string, MessageRecord>();
  for (const group of groups) {
    for (const message of await deps.store.listMessages(group.groupId)) {
      const seen = byId.get(message.id);
      // Prefer the copy that reached its group ('sent') over one still on its way.
      if (!seen || (seen.status !== 'sent' && message.status === 'sent')) byId.set(message.id, message);
    }
  }
  return [...byId.values()].sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
}
