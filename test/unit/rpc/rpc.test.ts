import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRpcClient } from '../../../src/rpc/client';
import { createPortHub, dispatch, servePort, type RpcHandlers } from '../../../src/rpc/server';
import { parseEvent, RPC_PORT_NAME } from '../../../src/rpc/wire';
import { isAtmError } from '../../../src/errors';
import { portPair } from './port-pair';
import type { SenderLike } from '../../../src/rpc/sender';
import { contentSender, optionsSender as pageSender, self } from './senders';

function handlers(): RpcHandlers & { calls: string[] } {
  const calls: string[] = [];
  const encrypted = new Map<string, boolean>();
  // The handlers typed loosely on purpose: the catch-all ones below only record their call.
  return {
    calls,
    'background.info': () => {
      calls.push('background.info');
      return { version: '9.9.9', startedAt: 42 };
    },
    'convo.status': ({ convoId }: { convoId: string }) => {
      calls.push(`convo.status:${convoId}`);
      return { convoId, encrypted: encrypted.get(convoId) ?? false };
    },
    'convo.setEncrypted': ({ convoId, encrypted: on }: { convoId: string; encrypted: boolean }) => {
      calls.push(`convo.setEncrypted:${convoId}:${on}`);
      encrypted.set(convoId, on);
      return { convoId, encrypted: on };
    },
    // The rest only record that they ran: this file tests the transport and access checks.
    ...Object.fromEntries(
      (
        [
          'auth.status',
          'auth.signIn',
          'auth.signOut',
          'settings.network',
          'settings.setNetwork',
          'convo.view',
          'convo.send',
          'convo.retry',
          'convo.invite',
          'convo.markRead',
        ] as const
      ).map((m) => [m, () => void calls.push(m) as never]),
    ),
  } as unknown as RpcHandlers & { calls: string[] };
}

function connected(sender: SenderLike, h = handlers()) {
  const pair = portPair(RPC_PORT_NAME, sender);
  const served = servePort(pair.server, h, self);
  const client = createRpcClient(() => pair.client, { timeoutMs: 1_000 });
  return { pair, served, client, h };
}

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

afterEach(() => vi.useRealTimers());

describe('RPC over a port', () => {
  it('round-trips typed calls from an extension page', async () => {
    const { client, h } = connected(pageSender);
    await expect(client.call('background.info', {})).resolves.toEqual({ version: '9.9.9', startedAt: 42 });
    await expect(client.call('convo.setEncrypted', { convoId: 'c1', encrypted: true })).resolves.toEqual({
      convoId: 'c1',
      encrypted: true,
    });
    await expect(client.call('convo.status', { convoId: 'c1' })).resolves.toEqual({
      convoId: 'c1',
      encrypted: true,
    });
    expect(h.calls).toEqual(['background.info', 'convo.setEncrypted:c1:true', 'convo.status:c1']);
  });

  it('lets a content script ask for status but refuses privileged methods without running them', async () => {
    const { client, h } = connected(contentSender);
    await expect(client.call('convo.status', { convoId: 'c1' })).resolves.toEqual({
      convoId: 'c1',
      encrypted: false,
    });
    const denied = await rejection(client.call('convo.setEncrypted', { convoId: 'c1', encrypted: true }));
    expect(isAtmError(denied, 'Forbidden')).toBe(true);
    const deniedInfo = await rejection(client.call('background.info', {}));
    expect(isAtmError(deniedInfo, 'Forbidden')).toBe(true);
    expect(h.calls).toEqual(['convo.status:c1']);
  });

  it('closes ports from unknown senders before reading anything', async () => {
    const h = handlers();
    const pair = portPair(RPC_PORT_NAME, { id: 'another-extension', url: 'chrome-extension://x/a.html' });
    const served = servePort(pair.server, h, self);
    // Closed at once, not after a tick: nothing of the port is read.
    expect(pair.isConnected()).toBe(false);
    expect(await served).toBe(false);
    expect(pair.isConnected()).toBe(false);
    const client = createRpcClient(() => pair.client, { timeoutMs: 1_000 });
    const error = await rejection(client.call('convo.status', { convoId: 'c1' }));
    expect(isAtmError(error, 'Disconnected')).toBe(true);
    expect(h.calls).toEqual([]);
  });

  it('ignores ports with another name', async () => {
    const pair = portPair('something-else', pageSender);
    expect(await servePort(pair.server, handlers(), self)).toBe(false);
  });

  it('rejects invalid params with typed errors and never calls the handler', async () => {
    const { client, h } = connected(pageSender);
    const badId = await rejection(client.call('convo.status', { convoId: '../../etc' }));
    expect(isAtmError(badId, 'InvalidConvoId')).toBe(true);
    const extra = await rejection(
      client.call('convo.status', { convoId: 'c1', text: 'secret' } as unknown as { convoId: string }),
    );
    expect(isAtmError(extra, 'BadRequest')).toBe(true);
    const wrongType = await rejection(
      client.call('convo.setEncrypted', { convoId: 'c1', encrypted: 'yes' } as unknown as {
        convoId: string;
        encrypted: boolean;
      }),
    );
    expect(isAtmError(wrongType, 'BadRequest')).toBe(true);
    expect(h.calls).toEqual([]);
  });

  it('answers unknown methods with UnknownMethod', async () => {
    const response = await dispatch(handlers(), 'extension-page', {
      rpc: 1,
      id: 7,
      method: 'keys.export',
      params: {},
    });
    expect(response).toEqual({
      rpc: 1,
      id: 7,
      ok: false,
      error: { code: 'UnknownMethod', message: 'request failed: UnknownMethod' },
    });
  });

  it('drops messages that are not requests at all', async () => {
    for (const junk of [null, 1, 'x', [], { rpc: 2, id: 1, method: 'a' }, { rpc: 1, id: 'a', method: 'b' }]) {
      expect(await dispatch(handlers(), 'extension-page', junk)).toBeUndefined();
    }
  });

  it('hides internal error details from callers', async () => {
    const h = handlers();
    h['background.info'] = () => {
      throw new Error('db path /secret/location exploded');
    };
    const response = await dispatch(h, 'extension-page', { rpc: 1, id: 1, method: 'background.info' });
    expect(response).toEqual({
      rpc: 1,
      id: 1,
      ok: false,
      error: { code: 'Internal', message: 'internal error in background' },
    });
  });

  it('fails calls in flight with Disconnected when the worker goes away, then reconnects', async () => {
    const h = handlers();
    h['background.info'] = () => new Promise(() => {}); // never answers
    let pair = portPair(RPC_PORT_NAME, pageSender);
    servePort(pair.server, h, self);
    let connects = 0;
    const client = createRpcClient(
      () => {
        connects++;
        return pair.client;
      },
      { timeoutMs: 5_000 },
    );
    const inFlight = client.call('background.info', {});
    await new Promise((r) => setTimeout(r, 5));
    pair.server.disconnect(); // the browser stopped the service worker
    expect(isAtmError(await rejection(inFlight), 'Disconnected')).toBe(true);

    pair = portPair(RPC_PORT_NAME, pageSender);
    servePort(pair.server, handlers(), self);
    await expect(client.call('convo.status', { convoId: 'c2' })).resolves.toEqual({
      convoId: 'c2',
      encrypted: false,
    });
    expect(connects).toBe(2);
  });

  it('times out calls that get no answer', async () => {
    vi.useFakeTimers();
    const h = handlers();
    h['background.info'] = () => new Promise(() => {});
    const pair = portPair(RPC_PORT_NAME, pageSender);
    servePort(pair.server, h, self);
    const client = createRpcClient(() => pair.client, { timeoutMs: 50 });
    const pending = rejection(client.call('background.info', {}));
    await vi.advanceTimersByTimeAsync(60);
    expect(isAtmError(await pending, 'Timeout')).toBe(true);
  });

  it('pushes broadcast events to every connected port, and stops after disconnect', async () => {
    const hub = createPortHub();
    const a = portPair(RPC_PORT_NAME, pageSender);
    const b = portPair(RPC_PORT_NAME, contentSender);
    servePort(a.server, handlers(), self, { hub });
    servePort(b.server, handlers(), self, { hub });
    const clientA = createRpcClient(() => a.client, { timeoutMs: 1_000 });
    const clientB = createRpcClient(() => b.client, { timeoutMs: 1_000 });
    const seenA: unknown[] = [];
    const seenB: unknown[] = [];
    clientA.onEvent((e) => seenA.push(e.data));
    clientB.onEvent((e) => seenB.push(e.data));
    await clientA.call('convo.status', { convoId: 'c1' }); // opens the ports
    await clientB.call('convo.status', { convoId: 'c1' });

    hub.broadcast('convo.status', { convoId: 'c1', encrypted: true });
    await new Promise((r) => setTimeout(r, 5));
    expect(seenA).toEqual([{ convoId: 'c1', encrypted: true }]);
    expect(seenB).toEqual([{ convoId: 'c1', encrypted: true }]);

    a.client.disconnect();
    await new Promise((r) => setTimeout(r, 5));
    hub.broadcast('convo.status', { convoId: 'c1', encrypted: false });
    await new Promise((r) => setTimeout(r, 5));
    expect(seenA).toHaveLength(1);
    expect(seenB).toHaveLength(2);
  });

  it('pushes progress only to extension pages: content scripts hear statuses and changes alone', async () => {
    const hub = createPortHub();
    const page = portPair(RPC_PORT_NAME, pageSender);
    const content = portPair(RPC_PORT_NAME, contentSender);
    servePort(page.server, handlers(), self, { hub });
    servePort(content.server, handlers(), self, { hub });
    const seen: Record<string, string[]> = { page: [], content: [] };
    // Both clients parse every event: what the content script hears is the server's filter alone.
    const pageClient = createRpcClient(() => page.client, { timeoutMs: 1_000, parseEvent });
    const contentClient = createRpcClient(() => content.client, { timeoutMs: 1_000, parseEvent });
    pageClient.onEvent((e) => seen.page!.push(e.event));
    contentClient.onEvent((e) => seen.content!.push(e.event));
    await pageClient.call('convo.status', { convoId: 'c1' }); // opens the ports
    await contentClient.call('convo.status', { convoId: 'c1' });
    hub.broadcast('convo.progress', { convoId: 'c1', phase: 'devices', done: 1, total: 2 });
    hub.broadcast('convo.changed', { convoId: 'c1' });
    await new Promise((r) => setTimeout(r, 5));
    expect(seen.page).toEqual(['convo.progress', 'convo.changed']);
    expect(seen.content).toEqual(['convo.changed']);
  });

  it('lets content scripts call nothing but convo.status and panel.ticket, whatever the method', async () => {
    const { client, h } = connected(contentSender);
    const privileged = [
      ['auth.status', {}],
      ['auth.signIn', { identifier: 'alice.test', appPassword: 'x' }],
      ['auth.signOut', { confirm: true }],
      ['settings.network', {}],
      ['convo.view', { convoId: 'c1' }],
      ['convo.send', { convoId: 'c1', text: 'hi' }],
      ['convo.invite', { convoId: 'c1', did: 'did:plc:abcdefghijklmnopqrstuvwx' }],
      ['convo.markRead', { convoId: 'c1' }],
    ] as const;
    for (const [method, params] of privileged) {
      const error = await rejection(client.call(method, params as never));
      expect(isAtmError(error, 'Forbidden'), method).toBe(true);
    }
    expect(h.calls).toEqual([]);
  });

  it('validates the new methods\' params strictly', async () => {
    const { client, h } = connected(pageSender);
    const bad = [
      ['auth.signOut', { confirm: false }],
      ['auth.signIn', { identifier: '', appPassword: 'x' }],
      ['settings.setNetwork', { plcUrl: 'http://evil.example', handleResolver: 'https://a.example', chatProxy: 'did:web:a.example#chat' }],
      ['settings.setNetwork', { plcUrl: 'https://plc.example', handleResolver: 'https://a.example', chatProxy: 'not a did' }],
      ['convo.send', { convoId: 'c1', text: '' }],
      ['convo.retry', { convoId: 'c1', messageId: 'nothex' }],
      ['convo.invite', { convoId: 'c1', did: 'alice.test' }],
    ] as const;
    for (const [method, params] of bad) {
      const error = await rejection(client.call(method, params as never));
      expect(isAtmError(error, 'BadRequest'), `${method} ${JSON.stringify(params)}`).toBe(true);
    }
    expect(h.calls).toEqual([]);
  });
});
