import { describe, expect, it } from 'vitest';
import { cachedConversationMembers, type ChatMember, type PersistedMembers } from '../../../src/atproto/chat';
import { AtmError } from '../../../src/errors';

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
