import type { Client } from '@atproto/lex';
import { AtmError } from '../errors';
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
  members(convoId: string): Promise<ChatMember[]>;
  /** A plain (unencrypted) DM in the conversation: only ever our fixed invite text. */
  sendPlain(convoId: string, text: string): Promise<void>;
  /** Everyone we share a bsky conversation with (the first `maxConvos` conversations). */
  contacts(maxConvos: number): Promise<string[]>;
}

function chatError(error: unknown, operation: string): AtmError {
  const status = (error as { status?: number }).status;
  const name = (error as { error?: string }).error;
  if (status === 400 && name === 'InvalidConvo') {
    return new AtmError('RemoteRefused', 'no such conversation, or not a member', { operation });
  }
  return new AtmError(status && status < 500 ? 'RemoteRefused' : 'Network', `${operation} failed`, {
    operation,
    status,
    error: name,
  });
}

/**
 * chat.bsky.convo.* through the PDS proxy (the client from session.ts's chatAgent). Answers are
 * validated against the official lexicons (lexicons/chat/bsky) before they are used.
 */
export function chatClient(chat: Client): ChatClient {
  return {
    async members(convoId) {
      try {
        const { body } = await chat.xrpc(convo.getConvo.main, { params: { convoId } });
        return body.convo.members.map((m) => ({
          did: m.did,
          handle: m.handle,
          ...(m.displayName ? { displayName: m.displayName } : {}),
          ...(m.avatar ? { avatar: m.avatar } : {}),
        }));
      } catch (error) {
        throw chatError(error, 'getConvo');
      }
    },
    async contacts(maxConvos) {
      const dids = new Set<string>();
      let cursor: string | undefined;
      let seen = 0;
      try {
        do {
          const { body } = await chat.xrpc(convo.listConvos.main, {
            params: { limit: Math.min(100, maxConvos - seen), ...(cursor ? { cursor } : {}) },
          });
          for (const c of body.convos) for (const m of c.members) dids.add(m.did);
          seen += body.convos.length;
          cursor = body.cursor && body.convos.length > 0 ? body.cursor : undefined;
        } while (cursor && seen < maxConvos);
      } catch (error) {
        throw chatError(error, 'listConvos');
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
 * service cannot be asked, the last answer this worker got stands; with none, the error is
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
      // Asked for a fresh answer: an old one is not one.
      if (hit && !options.fresh) return hit.dids;
      throw error;
    }
  };
}
