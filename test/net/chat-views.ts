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

export async function convoView(
  state: ChatState,
  profiles: ProfileDirectory,
  convo: Convo,
  viewer: string,
): Promise<ChatBskyConvoDefs.ConvoView> {
  const members: ChatBskyActorDefs.ProfileViewBasic[] = (await profiles.many(convo.members)).map((p) => ({
    ...p,
    kind:
      convo.kind === 'group'
        ? {
            $type: 'chat.bsky.actor.defs#groupConvoMember',
            role: convo.state.get(p.did)?.role ?? 'standard',
          }
        : { $type: 'chat.bsky.actor.defs#directConvoMember' },
  }));
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
