import { describe, expect, it } from 'vitest';
import { isAtmError } from '../../../src/errors';
import { METHODS } from '../../../src/rpc/methods';
import { dispatch, type RpcHandlers } from '../../../src/rpc/server';

// The options page's device methods: extension pages only, strict params.

const RKEY = '3lbdevice2222';

function recording() {
  const calls: unknown[] = [];
  const handlers = {
    'devices.list': () => {
      calls.push('devices.list');
      return { devices: [] };
    },
    'devices.revoke': (params: unknown) => {
      calls.push(params);
      return { rkey: RKEY, keyPackagesDeleted: 0 };
    },
  } as unknown as RpcHandlers;
  return { calls, handlers };
}

const request = (method: string, params: unknown) => ({ rpc: 1, id: 1, method, params });

describe('devices.* methods', () => {
  it('are for extension pages only: the panel and a content script are refused before any handler runs', async () => {
    const { calls, handlers } = recording();
    for (const [method, params] of [
      ['devices.list', {}],
      ['devices.revoke', { rkey: RKEY, confirm: true }],
    ] as const) {
      expect(METHODS[method].callers).toEqual(['extension-page']);
      for (const caller of ['panel', 'content-script'] as const) {
        const answer = await dispatch(handlers, caller, request(method, params), 7);
        expect(answer, `${method} for ${caller}`).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
      }
    }
    expect(calls).toEqual([]);
    expect(await dispatch(handlers, 'extension-page', request('devices.list', {}))).toMatchObject({ ok: true });
    expect(await dispatch(handlers, 'extension-page', request('devices.revoke', { rkey: RKEY, confirm: true }))).toMatchObject({
      ok: true,
      result: { rkey: RKEY },
    });
    expect(calls).toEqual(['devices.list', { rkey: RKEY, confirm: true }]);
  });

  it('take a device id (a TID) and an explicit confirmation, and nothing else', () => {
    expect(METHODS['devices.revoke'].parse({ rkey: RKEY, confirm: true })).toEqual({ rkey: RKEY, confirm: true });
    expect(METHODS['devices.list'].parse({})).toEqual({});
    const bad: Array<[keyof typeof METHODS, unknown]> = [
      ['devices.list', { did: 'did:plc:abc' }],
      ['devices.list', null],
      ['devices.revoke', { rkey: RKEY }],
      ['devices.revoke', { rkey: RKEY, confirm: 'yes' }],
      ['devices.revoke', { rkey: RKEY, confirm: false }],
      ['devices.revoke', { rkey: 'self', confirm: true }],
      ['devices.revoke', { rkey: '../3lbdevice22', confirm: true }],
      ['devices.revoke', { rkey: '3LBDEVICE2222', confirm: true }],
      ['devices.revoke', { rkey: `${RKEY}2`, confirm: true }],
      ['devices.revoke', { rkey: 'klbdevice2222', confirm: true }],
      ['devices.revoke', { rkey: 42, confirm: true }],
      ['devices.revoke', { rkey: RKEY, confirm: true, collection: 'org.atmessaging.event' }],
      ['devices.revoke', [RKEY]],
    ];
    for (const [method, params] of bad) {
      let error: unknown;
      try {
        METHODS[method].parse(params);
      } catch (e) {
        error = e;
      }
      expect(isAtmError(error, 'BadRequest'), `${method} ${JSON.stringify(params)}`).toBe(true);
    }
  });
});
