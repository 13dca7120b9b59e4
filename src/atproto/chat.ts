import type { Client } from '@atproto/lex';
import { AtmError, isAtmError } from '../errors';
import * as lexicons from '../lexicons';

const convo = lexicons.chat.bsky.convo;

/** A conversation member as bsky's chat service describes them (public profile data). */
export interface ChatMember {
  did: string;
  handle: string;
  displayName?: string;
  avatar?: string;
}

export interface ChatClient {
  /**
   * Everyone in the conversation, from chat.bsky.convo.getConvoMembers (every page); a
   * conversation's view (getConvo, listConvos) names only a few of a group's members.
   */
  members(convoId: string): Promise<ChatMember[]>;
  /** A plain (unencrypted) DM in the conversation: only ever our fixed invite text. */
  sendPlain(convoId: string, text: string): Promise<void>;
  /** Everyone we share an accepted bsky conversation with (the first `maxConvos`; requests are left out). */
  contacts(maxConvos: number): Promise<string[]>;
}

/**
 * Bluesky caps a group conversation at 100 members (createGroup's lexicon since August 2026;
 * 50 before; each view says its `memberLimit`): a member list that pages past ten times that is
 * a service that never ends, not a conversation.
 */
export const MAX_CONVERSATION_MEMBERS = 1000;
/** The lexicon's largest page (chat.bsky.convo.getConvoMembers `limit`, maximum 100). */
const MEMBERS_PAGE_SIZE = 100;

function chatError(error: unknown, operation: string): AtmError {
  if (error instanceof AtmError) return error;
  const status = (error as { status?: number }).status;
  const name = (error as { error?: string }).error;
  if (status === 400 && name === 'InvalidConvo') {
    return new AtmError('RemoteRefused', 'no such conversation, or not a member', { operation, status, error: name });
  }
  return new AtmError(status && status < 500 ? 'RemoteRefused' : 'Network', `${operation} failed`, {
    operation,
    status,
    error: name,
  });
}

/**
 * getConvoMembers is not there (a service or proxy without the method: 404 XRPCNotSupported,
 * 501 MethodNotImplemented) or refused for another reason than our membership (any 400 but
 * InvalidConvo, which says we are not in the conversation, and must stay a refusal).
 */
function membersUnavailable(error: unknown): boolean {
  const status = (error as { status?: number }).status;
  const name = (error as { error?: string }).error;
  return status === 404 || status === 501 || (status === 400 && name !== 'InvalidConvo');
}

function chatMember(m: { did: string; handle: string; displayName?: string; avatar?: string }): ChatMember {
  return {
    did: m.did,
    handle: m.handle,
    ...(m.displayName ? { displayName: m.displayName } : {}),
    ...(m.avatar ? { avatar: m.avatar } : {}),
  };
}

/**
 * chat.bsky.convo.* through the PDS proxy (the client from session.ts's chatAgent). Answers are
 * validated against the official lexicons (lexicons/chat/bsky) before they are used.
 * `membersPageSize` is for tests that want many pages from a small conversation.
 */
export function chatClient(chat: Client, options: { membersPageSize?: number } = {}): ChatClient {
  const pageSize = options.membersPageSize ?? MEMBERS_PAGE_SIZE;

  /**
   * A group's convoView lists only "important members" (the lexicon's words: the first few, the
   * viewer, who added the viewer, the last sender): everyone is in getConvoMembers, paged, as
   * bsky.app reads it for every conversation (social-app's useListConvoMembersQuery, which its
   * ConvoProvider asks for direct conversations too). A cursor seen before or more pages than
   * MAX_CONVERSATION_MEMBERS needs is a list that does not end: no answer (Network: it decides
   * nothing), never a partial one, which would read as everyone else having left.
   */
  async function allMembers(convoId: string): Promise<ChatMember[]> {
    const byDid = new Map<string, ChatMember>();
    const cursors = new Set<string>();
    const maxPages = Math.ceil(MAX_CONVERSATION_MEMBERS / pageSize) + 1;
    const endless = (reason: string, pages: number) =>
      new AtmError('Network', 'the member list from the chat service does not end', {
        operation: 'getConvoMembers',
        reason,
        pages,
        members: byDid.size,
      });
    let cursor: string | undefined;
    for (let pages = 1; ; pages++) {
      const { body } = await chat.xrpc(convo.getConvoMembers.main, {
        params: { convoId, limit: pageSize, ...(cursor ? { cursor } : {}) },
      });
      for (const m of body.members) if (!byDid.has(m.did)) byDid.set(m.did, chatMember(m));
      if (byDid.size > MAX_CONVERSATION_MEMBERS) throw endless(`more than ${MAX_CONVERSATION_MEMBERS} members`, pages);
      // Only a missing cursor ends the list: a page may be empty (filtered) and still go on.
      if (!body.cursor) return [...byDid.values()];
      if (cursors.has(body.cursor)) throw endless('a cursor repeated', pages);
      if (pages >= maxPages) throw endless(`more than ${maxPages} pages`, pages);
      cursors.add(body.cursor);
      cursor = body.cursor;
    }
  }

  /**
   * Without getConvoMembers, only a direct conversation's view is its whole membership (the
   * lexicon: "an immutable list of the 2 members"). A view without a kind comes from a service
   * older than group conversations, where every conversation was direct.
   */
  async function directMembers(convoId: string, unavailable: unknown): Promise<ChatMember[]> {
    const view = await chat.xrpc(convo.getConvo.main, { params: { convoId } }).then(
      ({ body }) => body.convo,
      (error: unknown) => Promise.reject(chatError(error, 'getConvo')),
    );
    const direct =
      view.kind?.$type === 'chat.bsky.convo.defs#directConvo' || (view.kind === undefined && view.members.length === 2);
    if (!direct) {
      // Not a refusal of us (that is InvalidConvo): a group whose members cannot be listed now
      // decides nothing, rather than read as one we left.
      throw new AtmError('Network', 'the chat service did not list the members of a group conversation', {
        operation: 'getConvoMembers',
        status: (unavailable as { status?: number }).status,
        error: (unavailable as { error?: string }).error,
      });
    }
    return view.members.map(chatMember);
  }

  return {
    async members(convoId) {
      try {
        return await allMembers(convoId);
      } catch (error) {
        if (membersUnavailable(error)) return directMembers(convoId, error);
        throw chatError(error, 'getConvoMembers');
      }
    },
    async contacts(maxConvos) {
      const dids = new Set<string>();
      const groups: string[] = [];
      let cursor: string | undefined;
      let seen = 0;
      try {
        do {
          // Accepted conversations only: a request's sender is a stranger until the user
          // accepts it on bsky.app, and must not choose a repo for us to read.
          const { body } = await chat.xrpc(convo.listConvos.main, {
            params: { limit: Math.min(100, maxConvos - seen), status: 'accepted', ...(cursor ? { cursor } : {}) },
          });
          for (const c of body.convos) {
            for (const m of c.members) dids.add(m.did);
            if (c.kind?.$type === 'chat.bsky.convo.defs#groupConvo') groups.push(c.id);
          }
          seen += body.convos.length;
          cursor = body.cursor && body.convos.length > 0 ? body.cursor : undefined;
        } while (cursor && seen < maxConvos);
      } catch (error) {
        throw chatError(error, 'listConvos');
      }
      // A group's view lists a few of its members; an invite may come from any of them. One
      // group that cannot be listed now keeps the few its view named (contacts only say whose
      // repos to read; who is in a conversation is always asked of members()).
      for (const id of groups) {
        const members = await allMembers(id).catch(() => []);
        for (const m of members) dids.add(m.did);
      }
      return [...dids];
    },
    async sendPlain(convoId, text) {
      try {
        await chat.xrpc(convo.sendMessage.main, { body: { convoId, message: { text } } });
      } catch (error) {
        throw chatError(error, 'sendMessage');
      }
    },
  };
}

/** Where the member lists outlive the worker (IndexedDB in the extension). */
export interface PersistedMembers {
  get(convoId: string): Promise<{ convoId: string; dids: readonly string[]; at: number } | undefined>;
  put(record: { convoId: string; dids: readonly string[]; at: number }): Promise<void>;
}

/**
 * A conversation's member DIDs from the chat service, cached for `ttlMs` (in memory, and in
 * `persisted` when given, so a worker woken within that time does not ask again). When the
 * service cannot be asked, the last answer this worker got stands (not when it says we are not
 * in the conversation: that is an answer, and is thrown); with none, the error is
 * thrown: callers decide what an unknown membership means (never "nobody is in it", which would
 * remove everyone). A persisted answer is used only while fresh: an old member list could add
 * back someone who left the conversation since. `fresh` asks the service whatever is cached
 * (and caches the answer); it fails rather than answer from the past.
 */
export function cachedConversationMembers(
  chat: Pick<ChatClient, 'members'>,
  clock: { now(): number },
  ttlMs = 5 * 60_000,
  persisted?: PersistedMembers,
): (convoId: string, options?: { fresh?: boolean }) => Promise<ReadonlySet<string>> {
  const cache = new Map<string, { dids: Set<string>; at: number }>();
  const fresh = (at: number) => clock.now() - at < ttlMs && at <= clock.now();
  return async (convoId, options = {}) => {
    const hit = cache.get(convoId);
    if (hit && fresh(hit.at) && !options.fresh) return hit.dids;
    const stored = options.fresh ? undefined : await persisted?.get(convoId).catch(() => undefined);
    if (stored && fresh(stored.at)) {
      const dids = new Set(stored.dids);
      cache.set(convoId, { dids, at: stored.at });
      return dids;
    }
    try {
      const dids = new Set((await chat.members(convoId)).map((m) => m.did));
      const at = clock.now();
      cache.set(convoId, { dids, at });
      // Best effort: a failed write only costs the next worker a request.
      await persisted?.put({ convoId, dids: [...dids], at }).catch(() => {});
      return dids;
    } catch (error) {
      // Asked for a fresh answer: an old one is not one. Told that we are not in the
      // conversation: that is an answer, and the old list is no longer ours to use.
      if (hit && !options.fresh && !isNotAMemberRefusal(error)) return hit.dids;
      if (isNotAMemberRefusal(error)) cache.delete(convoId);
      throw error;
    }
  };
}

/** The chat service's refusal because this account is not in the conversation (InvalidConvo). */
export function isNotAMemberRefusal(error: unknown): boolean {
  return isAtmError(error, 'RemoteRefused') && error.context['error'] === 'InvalidConvo';
}
