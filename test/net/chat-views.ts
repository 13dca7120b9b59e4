import type { $Typed, ChatBskyActorDefs, ChatBskyConvoDefs, ChatBskyConvoGetLog } from '@atproto/api';
import { GROUP_MEMBER_LIMIT, type ChatState, type Convo, type LogEntry, type StoredMessage } from './chat-state';
import type { ProfileDirectory } from './profiles';

// Renders the stand-in's state as official chat.bsky lexicon objects. Union members carry
// `$type` because lexicon validation of the responses requires it.

const DEFS = 'chat.bsky.convo.defs';

export function messageView(m: StoredMessage): $Typed<ChatBskyConvoDefs.MessageView> {
  const view: $Typed<ChatBskyConvoDefs.MessageView> = {
    $type: `${DEFS}#messageView`,
    id: m.id,
    rev: m.rev,
    text: m.text,
    sender: { did: m.sender },
    sentAt: m.sentAt,
  };
  if (m.facets !== undefined) view.facets = m.facets as ChatBskyConvoDefs.MessageView['facets'];
  return view;
}

/**
 * How many of a group's first members its convoView lists besides the other important ones.
 * Mirrors chat.bsky.convo.defs#convoView.members at bluesky-social/atproto d6296a1 (the text
 * dates from 1d575ed, "group chat lexicons"): "For direct convos, it will be an immutable list of
 * the 2 members. For group convos, it will a list of important members (the first few members,
 * the viewer, the member who added the viewer, the member who sent the last message, the member
 * who sent the last reaction), but will not contain the full list of members. Use
 * chat.bsky.convo.getConvoMembers to list all members." The service is closed source, so "few"
 * is ours: 3, so that any group of more than 6 has members its view does not name (a client
 * reading the view as the membership fails here as it would on Bluesky), and a 3-person group
 * (the demo's) is still listed whole. The stand-in has no reactions.
 */
export const GROUP_VIEW_FIRST_MEMBERS = 3;

/** The members a convoView lists: both of a direct convo; the "important" ones of a group. */
export function viewMembers(convo: Convo, viewer: string): string[] {
  if (convo.kind === 'direct') return convo.members;
  const important = new Set([
    ...convo.members.slice(0, GROUP_VIEW_FIRST_MEMBERS),
    viewer,
    convo.state.get(viewer)?.addedBy,
    convo.messages.at(-1)?.sender,
  ]);
  // Only current members, in the order they joined (a past sender may have left).
  return convo.members.filter((did) => important.has(did));
}

/** Profile views of members, with the member kind the lexicon's union asks for. */
export async function memberViews(
  profiles: ProfileDirectory,
  convo: Convo,
  dids: readonly string[],
): Promise<ChatBskyActorDefs.ProfileViewBasic[]> {
  return (await profiles.many(dids)).map((p) => ({
    ...p,
    kind:
      convo.kind === 'group'
        ? {
            $type: 'chat.bsky.actor.defs#groupConvoMember',
            role: convo.state.get(p.did)?.role ?? 'standard',
          }
        : { $type: 'chat.bsky.actor.defs#directConvoMember' },
  }));
}

export async function convoView(
  state: ChatState,
  profiles: ProfileDirectory,
  convo: Convo,
  viewer: string,
): Promise<ChatBskyConvoDefs.ConvoView> {
  const members = await memberViews(profiles, convo, viewMembers(convo, viewer));
  const me = state.memberState(convo, viewer);
  const view: ChatBskyConvoDefs.ConvoView = {
    id: convo.id,
    rev: convo.rev,
    members,
    muted: me.muted,
    status: me.status,
    unreadCount: state.unreadCount(convo, viewer),
    kind: convo.kind === 'group' ? groupKind(convo) : { $type: `${DEFS}#directConvo` },
  };
  const last = convo.messages.at(-1);
  if (last) view.lastMessage = messageView(last);
  return view;
}

function groupKind(convo: Convo): $Typed<ChatBskyConvoDefs.GroupConvo> {
  // memberLimit and lockStatusModerationOverride are required by the upstream lexicons
  // (lexicons/UPSTREAM.md), which are newer than @atproto/api's types.
  const kind: $Typed<ChatBskyConvoDefs.GroupConvo> & { memberLimit: number; lockStatusModerationOverride: boolean } = {
    $type: `${DEFS}#groupConvo`,
    name: convo.name ?? '',
    memberCount: convo.members.length,
    memberLimit: GROUP_MEMBER_LIMIT,
    createdAt: convo.createdAt,
    lockStatus: 'unlocked',
    lockStatusModerationOverride: false,
  };
  return kind;
}

export type LogView = ChatBskyConvoGetLog.OutputSchema['logs'][number];

export function logView(state: ChatState, entry: LogEntry): LogView {
  const base = { rev: entry.rev, convoId: entry.convoId };
  switch (entry.kind) {
    case 'beginConvo':
      return { $type: `${DEFS}#logBeginConvo`, ...base };
    case 'acceptConvo':
      return { $type: `${DEFS}#logAcceptConvo`, ...base };
    case 'leaveConvo':
      return { $type: `${DEFS}#logLeaveConvo`, ...base };
    case 'createMessage': {
      // Not convoFor(): a group member who left still reads the events from before leaving.
      const message = entry.messageId === undefined ? undefined : state.findMessage(entry.convoId, entry.messageId);
      if (!message) throw new Error(`log entry ${entry.rev} points at a missing message`);
      return { $type: `${DEFS}#logCreateMessage`, ...base, message: messageView(message) };
    }
  }
}
