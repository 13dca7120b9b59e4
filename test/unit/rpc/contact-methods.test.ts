import { describe, expect, it } from 'vitest';
import { createRpcClient } from '../../../src/rpc/client';
import { METHODS } from '../../../src/rpc/methods';
import { servePort, type RpcHandlers } from '../../../src/rpc/server';
import { RPC_PORT_NAME } from '../../../src/rpc/wire';
import { isAtmError } from '../../../src/errors';
import type { SenderLike } from '../../../src/rpc/sender';
import { portPair } from './port-pair';
import { contentSender, optionsSender as pageSender, self } from './senders';

// The key-change safety methods (docs/protocol.md §9) through the real port transport and
// access checks: extension pages and the panel (its members list verifies), strict params.
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const FP = 'ab'.repeat(32);

function handlers() {
  const calls: Array<[string, unknown]> = [];
  const h = {
    'contact.safetyNumber': (params: { did: string }) => {
      calls.push(['contact.safetyNumber', params]);
      return {
        did: params.did,
        groups: Array(12).fill('01234'),
        qr: 'QR',
        fingerprint: FP,
        state: 'unverified',
        devices: 1,
        rejected: 0,
      };
    },
    'contact.verify': (params: { did: string; fingerprint: string }) => {
      calls.push(['contact.verify', params]);
      return { did: params.did, state: 'verified', verifiedAt: 5 };
    },
    'contact.unverify': (params: { did: string }) => {
      calls.push(['contact.unverify', params]);
      return { did: params.did, state: 'unverified' };
    },
  };
  return { calls, handlers: h as unknown as RpcHandlers };
}

function connected(sender: SenderLike) {
  const h = handlers();
  const pair = portPair(RPC_PORT_NAME, sender);
  servePort(pair.server, h.handlers, self);
  return { client: createRpcClient(() => pair.client, { timeoutMs: 1_000 }), calls: h.calls };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('contact safety methods', () => {
  it('are for extension pages and the panel only', () => {
    for (const m of ['contact.safetyNumber', 'contact.verify', 'contact.unverify'] as const) {
      expect(METHODS[m].callers).toEqual(['extension-page', 'panel']);
    }
  });

  it('round-trip from an extension page', async () => {
    const { client, calls } = connected(pageSender);
    await expect(client.call('contact.safetyNumber', { did: BOB })).resolves.toMatchObject({
      did: BOB,
      fingerprint: FP,
    });
    await expect(client.call('contact.verify', { did: BOB, fingerprint: FP })).resolves.toEqual({
      did: BOB,
      state: 'verified',
      verifiedAt: 5,
    });
    await expect(client.call('contact.unverify', { did: BOB })).resolves.toEqual({ did: BOB, state: 'unverified' });
    expect(calls).toEqual([
      ['contact.safetyNumber', { did: BOB }],
      ['contact.verify', { did: BOB, fingerprint: FP }],
      ['contact.unverify', { did: BOB }],
    ]);
  });

  it('are refused to content scripts before any handler runs', async () => {
    const { client, calls } = connected(contentSender);
    expect(await codeOf(client.call('contact.safetyNumber', { did: BOB }))).toBe('Forbidden');
    expect(await codeOf(client.call('contact.verify', { did: BOB, fingerprint: FP }))).toBe('Forbidden');
    expect(await codeOf(client.call('contact.unverify', { did: BOB }))).toBe('Forbidden');
    expect(calls).toEqual([]);
  });

  it('take only a DID and, to verify, exactly the 64 lowercase hex digits that were shown', async () => {
    const { client, calls } = connected(pageSender);
    const bad: Array<[string, unknown]> = [
      ['contact.safetyNumber', {}],
      ['contact.safetyNumber', { did: 'bob.test' }],
      ['contact.safetyNumber', { did: BOB, convoId: 'c1' }],
      ['contact.safetyNumber', { did: ['did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'] }],
      ['contact.safetyNumber', null],
      ['contact.verify', { did: BOB }],
      ['contact.verify', { did: BOB, fingerprint: FP.toUpperCase() }],
      ['contact.verify', { did: BOB, fingerprint: FP.slice(2) }],
      ['contact.verify', { did: BOB, fingerprint: `${FP}00` }],
      ['contact.verify', { did: BOB, fingerprint: 123 }],
      ['contact.verify', { did: 'did:plc:short', fingerprint: FP }],
      ['contact.verify', { did: BOB, fingerprint: FP, state: 'verified' }],
      ['contact.unverify', { did: BOB, fingerprint: FP }],
      ['contact.unverify', { did: `${BOB} ` }],
    ];
    for (const [method, params] of bad) {
      expect(
        await codeOf(client.call(method as 'contact.verify', params as never)),
        `${method} ${JSON.stringify(params)}`,
      ).toBe('BadRequest');
    }
    expect(calls).toEqual([]);
  });
});
