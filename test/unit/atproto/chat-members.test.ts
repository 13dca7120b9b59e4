import type { Client } from '@atproto/lex';
import { describe, expect, it } from 'vitest';
import {
  cachedConversationMembers,
  chatClient,
  MAX_CONVERSATION_MEMBERS,
  type ChatMember,
  type PersistedMembers,
} from '../../../src/atproto/chat';
import { AtmError } from '../../../src/errors';

/** An XRPC error as @atproto/lex-client throws it (XrpcResponseError: status and error name). */
function xrpcError(status: number, error: string): Error {
  return Object.assign(new Error(error), { status, error });
}

type Params = { convoId: string; limit?: number; cursor?: string };
type Answer = (params: Params) => unknown;

/** A chat service that answers each method with `answers[nsid]`, recording every call. */
function fakeService(answers: Record<string, Answer>) {
  const calls: Array<{ nsid: string; params: Params }> = [];
  const client = {
    xrpc: async (method: { nsid: string }, options: { params: Params }) => {
      calls.push({ nsid: method.nsid, params: options.params });
      const answer = answers[method.nsid];
      if (!answer) throw xrpcError(404, 'XRPCNotSupported');
      const body = answer(options.params);
      if (body instanceof Error) throw body;
      return { body };
    },
  } as unknown as Client;
  return { client, calls, count: (nsid: string) => calls.filter((c) => c.nsid === nsid).length };
}

const profile = (i: number) => ({ did: `did:plc:member${i}`, handle: `m${i}.test` });
const dids = (n: number) => Array.from({ length: n }, (_, i) => `did:plc:member${i}`);

/** getConvoMembers over `n` members, `limit` at a time; the cursor is the next index. */
function pagedMembers(n: number): Answer {
  return ({ limit = 50, cursor }) => {
    const from = cursor === undefined ? 0 : Number(cursor);
    const members = Array.from({ length: Math.max(0, Math.min(limit, n - from)) }, (_, i) => profile(from + i));
    return from + limit < n ? { members, cursor: String(from + limit) } : { members };
  };
}

const GET_MEMBERS = 'chat.bsky.convo.getConvoMembers';
const GET_CONVO = 'chat.bsky.convo.getConvo';

describe('chatClient members: chat.bsky.convo.getConvoMembers, every page', () => {
  it('follows the cursor to the end, asking the lexicon\'s largest page by default', async () => {
    const service = fakeService({ [GET_MEMBERS]: pagedMembers(250) });
    const members = await chatClient(service.client).members('c');
    expect(members.map((m) => m.did)).toEqual(dids(250));
    expect(service.calls.map((c) => c.params)).toEqual([
      { convoId: 'c', limit: 100 },
      { convoId: 'c', limit: 100, cursor: '100' },
      { convoId: 'c', limit: 100, cursor: '200' },
    ]);
    expect(service.count(GET_CONVO)).toBe(0);
  });

  it('reads a 50-member group in pages of 7, each member once even when pages overlap', async () => {
    const pages = pagedMembers(50);
    const service = fakeService({
      // Every page after the first repeats the previous page's last member.
      [GET_MEMBERS]: (p) => {
        const page = pages(p) as { members: unknown[]; cursor?: string };
        const from = p.cursor === undefined ? 0 : Number(p.cursor);
        return from === 0 ? page : { ...page, members: [profile(from - 1), ...page.members] };
      },
    });
    const members = await chatClient(service.client, { membersPageSize: 7 }).members('c');
    expect(members.map((m) => m.did)).toEqual(dids(50));
    expect(service.count(GET_MEMBERS)).toBe(8);
  });

  it('goes on past an empty page that has a cursor (only a missing cursor ends the list)', async () => {
    const service = fakeService({
      [GET_MEMBERS]: ({ cursor }) =>
        cursor === undefined ? { members: [profile(0)], cursor: 'a' } : cursor === 'a' ? { members: [], cursor: 'b' } : { members: [profile(1)] },
    });
    expect((await chatClient(service.client).members('c')).map((m) => m.did)).toEqual(dids(2));
  });

  it('refuses a cursor that repeats: a typed error, never a partial list', async () => {
    const service = fakeService({
      [GET_MEMBERS]: ({ cursor }) => ({ members: [profile(cursor === undefined ? 0 : 1)], cursor: 'same' }),
    });
    await expect(chatClient(service.client).members('c')).rejects.toMatchObject({
      name: 'AtmError',
      code: 'Network',
      context: { operation: 'getConvoMembers', reason: 'a cursor repeated', pages: 2 },
    });
    expect(service.count(GET_MEMBERS)).toBe(2);
    expect(service.count(GET_CONVO)).toBe(0);
  });

  it('stops a list that never ends: new cursors past the page bound, or more members than any conversation has', async () => {
    const endless = fakeService({ [GET_MEMBERS]: ({ cursor }) => ({ members: [], cursor: `${Number(cursor ?? 0) + 1}` }) });
    await expect(chatClient(endless.client).members('c')).rejects.toMatchObject({
      code: 'Network',
      context: { reason: `more than ${MAX_CONVERSATION_MEMBERS / 100 + 1} pages` },
    });
    expect(endless.count(GET_MEMBERS)).toBe(MAX_CONVERSATION_MEMBERS / 100 + 1);

    const crowded = fakeService({ [GET_MEMBERS]: pagedMembers(MAX_CONVERSATION_MEMBERS + 1) });
    await expect(chatClient(crowded.client, { membersPageSize: 100 }).members('c')).rejects.toMatchObject({
      code: 'Network',
      context: { reason: `more than ${MAX_CONVERSATION_MEMBERS} members` },
    });
    // Exactly the bound is a conversation.
    const full = fakeService({ [GET_MEMBERS]: pagedMembers(MAX_CONVERSATION_MEMBERS) });
    expect(await chatClient(full.client).members('c')).toHaveLength(MAX_CONVERSATION_MEMBERS);
  });

  it('InvalidConvo (not a member) is a refusal, with no fallback to the conversation view', async () => {
    const service = fakeService({
      [GET_MEMBERS]: () => xrpcError(400, 'InvalidConvo'),
      [GET_CONVO]: () => ({ convo: { id: 'c', members: [profile(0), profile(1)], kind: { $type: 'chat.bsky.convo.defs#directConvo' } } }),
    });
    await expect(chatClient(service.client).members('c')).rejects.toMatchObject({ code: 'RemoteRefused' });
    expect(service.count(GET_CONVO)).toBe(0);
  });

  it('without getConvoMembers, a direct conversation\'s view (both members) stands; a group\'s few never do', async () => {
    const view = (kind: object | undefined, n: number) => () => ({
      convo: { id: 'c', members: Array.from({ length: n }, (_, i) => profile(i)), ...(kind ? { kind } : {}) },
    });
    const direct = fakeService({ [GET_CONVO]: view({ $type: 'chat.bsky.convo.defs#directConvo' }, 2) });
    expect((await chatClient(direct.client).members('c')).map((m) => m.did)).toEqual(dids(2));
    // A service older than groups: no kind, two members.
    const old = fakeService({ [GET_MEMBERS]: () => xrpcError(501, 'MethodNotImplemented'), [GET_CONVO]: view(undefined, 2) });
    expect((await chatClient(old.client).members('c')).map((m) => m.did)).toEqual(dids(2));

    const group = fakeService({ [GET_CONVO]: view({ $type: 'chat.bsky.convo.defs#groupConvo' }, 4) });
    // Network, not RemoteRefused: the engine reads a refusal as "we are out of the conversation".
    await expect(chatClient(group.client).members('c')).rejects.toMatchObject({
      code: 'Network',
      context: { operation: 'getConvoMembers', status: 404, error: 'XRPCNotSupported' },
    });
    const refusedGroup = fakeService({ [GET_MEMBERS]: () => xrpcError(400, 'InvalidRequest'), [GET_CONVO]: view(undefined, 4) });
    await expect(chatClient(refusedGroup.client).members('c')).rejects.toMatchObject({ code: 'Network' });
    // The view itself refused: not a member.
    const gone = fakeService({ [GET_CONVO]: () => xrpcError(400, 'InvalidConvo') });
    await expect(chatClient(gone.client).members('c')).rejects.toMatchObject({ code: 'RemoteRefused' });
  });

  it('a service error is Network, a refusal RemoteRefused (as before)', async () => {
    const down = fakeService({ [GET_MEMBERS]: () => xrpcError(502, 'UpstreamFailure') });
    await expect(chatClient(down.client).members('c')).rejects.toMatchObject({ code: 'Network', context: { status: 502 } });
    const refused = fakeService({ [GET_MEMBERS]: () => xrpcError(403, 'InvalidConvo') });
    await expect(chatClient(refused.client).members('c')).rejects.toMatchObject({ code: 'RemoteRefused', context: { status: 403 } });
  });
});

describe('chatClient contacts', () => {
  it('lists every member of a group conversation, not only the few its view names', async () => {
    const service = fakeService({
      'chat.bsky.convo.listConvos': () => ({
        convos: [
          { id: 'g', members: [profile(0), profile(1)], kind: { $type: 'chat.bsky.convo.defs#groupConvo' } },
          { id: 'd', members: [profile(0), profile(99)], kind: { $type: 'chat.bsky.convo.defs#directConvo' } },
        ],
      }),
      [GET_MEMBERS]: ({ convoId, ...rest }) => (convoId === 'g' ? pagedMembers(30)(rest as Params) : xrpcError(500, 'no')),
    });
    const contacts = await chatClient(service.client).contacts(10);
    expect(contacts.sort()).toEqual([...dids(30), 'did:plc:member99'].sort());
    expect(service.calls.filter((c) => c.nsid === GET_MEMBERS).map((c) => c.params.convoId)).toEqual(['g']);
  });

  it('asks for accepted conversations only: a request adds nobody until it is accepted', async () => {
    const service = fakeService({ 'chat.bsky.convo.listConvos': () => ({ convos: [] }) });
    await chatClient(service.client).contacts(10);
    expect(service.calls.map((c) => c.params)).toEqual([{ limit: 10, status: 'accepted' }]);
  });

  it('a group that cannot be listed now keeps the members its view names', async () => {
    const service = fakeService({
      'chat.bsky.convo.listConvos': () => ({
        convos: [{ id: 'g', members: [profile(0), profile(1)], kind: { $type: 'chat.bsky.convo.defs#groupConvo' } }],
      }),
      [GET_MEMBERS]: () => xrpcError(502, 'UpstreamFailure'),
    });
    expect((await chatClient(service.client).contacts(10)).sort()).toEqual(dids(2));
  });
});

describe('cachedConversationMembers', () => {
  function fakeChat() {
    const state = { answer: [{ did: 'did:plc:a', handle: 'a.test' }] as ChatMember[] | Error, calls: 0 };
    const chat = {
      members: async () => {
        state.calls++;
        if (state.answer instanceof Error) throw state.answer;
        return state.answer;
      },
    };
    return { state, chat };
  }

  it('asks again only after the cache time', async () => {
    const { state, chat } = fakeChat();
    let now = 0;
    const members = cachedConversationMembers(chat, { now: () => now }, 1000);
    expect([...(await members('c'))]).toEqual(['did:plc:a']);
    state.answer = [{ did: 'did:plc:b', handle: 'b.test' }];
    expect([...(await members('c'))]).toEqual(['did:plc:a']);
    now = 1000;
    expect([...(await members('c'))]).toEqual(['did:plc:b']);
    expect(state.calls).toBe(2);
  });

  it('keeps the last answer when the service fails, and throws when there is none (never "nobody")', async () => {
    const { state, chat } = fakeChat();
    let now = 0;
    const members = cachedConversationMembers(chat, { now: () => now }, 1000);
    await members('c');
    state.answer = new AtmError('Network', 'down');
    now = 5000;
    expect([...(await members('c'))]).toEqual(['did:plc:a']);
    await expect(members('other')).rejects.toMatchObject({ code: 'Network' });
  });

  it('does not answer from the cache once the service says this account is not in the conversation', async () => {
    const { state, chat } = fakeChat();
    let now = 0;
    const members = cachedConversationMembers(chat, { now: () => now }, 1000);
    await members('c');
    await members('d');
    state.answer = new AtmError('RemoteRefused', 'not a member', { status: 403, error: 'InvalidConvo' });
    now = 5000;
    await expect(members('c')).rejects.toMatchObject({ code: 'RemoteRefused' });
    // Any other refusal or failure still leaves the last answer standing.
    state.answer = new AtmError('RemoteRefused', 'rate limited', { status: 429 });
    expect([...(await members('d'))]).toEqual(['did:plc:a']);
  });

  it('a fresh question asks the service whatever is cached, and fails rather than answer from the cache', async () => {
    const { state, chat } = fakeChat();
    const members = cachedConversationMembers(chat, { now: () => 0 }, 1000);
    await members('c');
    state.answer = [{ did: 'did:plc:b', handle: 'b.test' }];
    expect([...(await members('c', { fresh: true }))]).toEqual(['did:plc:b']);
    expect([...(await members('c'))]).toEqual(['did:plc:b']);
    state.answer = new AtmError('Network', 'down');
    await expect(members('c', { fresh: true })).rejects.toMatchObject({ code: 'Network' });
    expect(state.calls).toBe(3);
  });

  function memoryStore(): PersistedMembers & { rows: Map<string, { convoId: string; dids: readonly string[]; at: number }> } {
    const rows = new Map<string, { convoId: string; dids: readonly string[]; at: number }>();
    return { rows, get: async (id) => rows.get(id), put: async (r) => void rows.set(r.convoId, r) };
  }

  it('a new worker uses the answer an earlier one kept while it is fresh, and asks once it is not', async () => {
    const { state, chat } = fakeChat();
    const persisted = memoryStore();
    let now = 10_000;
    await cachedConversationMembers(chat, { now: () => now }, 1000, persisted)('c');
    expect(persisted.rows.get('c')).toEqual({ convoId: 'c', dids: ['did:plc:a'], at: 10_000 });
    state.answer = [{ did: 'did:plc:b', handle: 'b.test' }];
    now = 10_900;
    expect([...(await cachedConversationMembers(chat, { now: () => now }, 1000, persisted)('c'))]).toEqual(['did:plc:a']);
    expect(state.calls).toBe(1);
    now = 11_000;
    expect([...(await cachedConversationMembers(chat, { now: () => now }, 1000, persisted)('c'))]).toEqual(['did:plc:b']);
    expect(state.calls).toBe(2);
  });

  it('never falls back to a kept answer that is no longer fresh (someone may have left since), nor one from the future', async () => {
    const { state, chat } = fakeChat();
    const persisted = memoryStore();
    persisted.rows.set('c', { convoId: 'c', dids: ['did:plc:old'], at: 1_000 });
    persisted.rows.set('d', { convoId: 'd', dids: ['did:plc:later'], at: 99_000 });
    state.answer = new AtmError('Network', 'down');
    const members = cachedConversationMembers(chat, { now: () => 50_000 }, 1000, persisted);
    await expect(members('c')).rejects.toMatchObject({ code: 'Network' });
    await expect(members('d')).rejects.toMatchObject({ code: 'Network' });
  });
});
