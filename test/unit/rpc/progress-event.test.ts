import { describe, expect, it } from 'vitest';
import { parseContentScriptEvent, parseEvent } from '../../../src/rpc/wire';

const event = (data: unknown) => ({ rpc: 1, event: 'convo.progress', data });

describe('the convo.progress event', () => {
  it('is read as counts for one conversation', () => {
    expect(parseEvent(event({ convoId: 'c1', phase: 'devices', done: 23, total: 50 }))).toEqual({
      rpc: 1,
      event: 'convo.progress',
      data: { convoId: 'c1', phase: 'devices', done: 23, total: 50 },
    });
    expect(parseEvent(event({ convoId: 'c1', phase: 'invites', done: 0, total: 0 }))?.data).toEqual({
      convoId: 'c1',
      phase: 'invites',
      done: 0,
      total: 0,
    });
  });

  it('carries nothing else along, whatever the sender added', () => {
    const parsed = parseEvent(event({ convoId: 'c1', phase: 'devices', done: 1, total: 2, did: 'did:plc:x', text: 'secret' }));
    expect(parsed?.data).toEqual({ convoId: 'c1', phase: 'devices', done: 1, total: 2 });
  });

  it.each([
    ['an unknown phase', { convoId: 'c1', phase: 'keys', done: 1, total: 2 }],
    ['no phase', { convoId: 'c1', done: 1, total: 2 }],
    ['more done than there is', { convoId: 'c1', phase: 'devices', done: 3, total: 2 }],
    ['a negative count', { convoId: 'c1', phase: 'devices', done: -1, total: 2 }],
    ['a fraction', { convoId: 'c1', phase: 'devices', done: 0.5, total: 2 }],
    ['a count as text', { convoId: 'c1', phase: 'devices', done: '1', total: 2 }],
    ['an unsafe integer', { convoId: 'c1', phase: 'devices', done: 1, total: 2 ** 60 }],
    ['no conversation', { phase: 'devices', done: 1, total: 2 }],
    ['no data', undefined],
  ])('is dropped with %s', (_, data) => {
    expect(parseEvent(event(data))).toBeUndefined();
  });

  it('is dropped outside the RPC envelope', () => {
    expect(parseEvent({ rpc: 2, event: 'convo.progress', data: { convoId: 'c1', phase: 'devices', done: 1, total: 2 } })).toBeUndefined();
  });

  it("is not even parsed by a content script's client, which hears statuses and changes only", () => {
    const progress = event({ convoId: 'c1', phase: 'devices', done: 1, total: 2 });
    expect(parseContentScriptEvent(progress)).toBeUndefined();
    const status = { rpc: 1, event: 'convo.status', data: { convoId: 'c1', encrypted: true, unread: 2 } };
    expect(parseContentScriptEvent(status)).toEqual(parseEvent(status));
    expect(parseContentScriptEvent(status)?.data).toEqual({ convoId: 'c1', encrypted: true, unread: 2 });
    const changed = { rpc: 1, event: 'convo.changed', data: { convoId: 'c1', text: 'secret' } };
    expect(parseContentScriptEvent(changed)?.data).toEqual({ convoId: 'c1' });
  });
});
