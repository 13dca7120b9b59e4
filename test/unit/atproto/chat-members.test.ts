import { describe, expect, it } from 'vitest';
import { cachedConversationMembers, type ChatMember } from '../../../src/atproto/chat';
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
});
