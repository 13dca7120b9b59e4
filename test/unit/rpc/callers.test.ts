import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHODS, type Caller, type Method } from '../../../src/rpc/methods';
import { dispatch, type RpcHandlers } from '../../../src/rpc/server';
import { EVENT_LISTENERS } from '../../../src/rpc/wire';

// Who may call what, written out: widening a method (or adding one) fails here until this list
// says so too. docs/architecture.md's table is this one.
const PAGE = 'extension-page';
const PANEL = 'panel';
const CONTENT = 'content-script';
const EXPECTED: Record<Method, Caller[]> = {
  'background.info': [PAGE, PANEL],
  'convo.status': [PAGE, PANEL, CONTENT],
  'convo.setEncrypted': [PAGE, PANEL],
  'convo.view': [PAGE, PANEL],
  'convo.send': [PAGE, PANEL],
  'convo.retry': [PAGE, PANEL],
  'convo.invite': [PAGE, PANEL],
  'convo.markRead': [PAGE, PANEL],
  'contact.safetyNumber': [PAGE, PANEL],
  'contact.verify': [PAGE, PANEL],
  'contact.unverify': [PAGE, PANEL],
  'auth.status': [PAGE, PANEL],
  'auth.signIn': [PAGE],
  'auth.signOut': [PAGE],
  'settings.network': [PAGE],
  'settings.setNetwork': [PAGE],
  'devices.list': [PAGE],
  'devices.revoke': [PAGE],
  'panel.ticket': [CONTENT],
};
const CALLERS: Caller[] = [PAGE, PANEL, CONTENT];

const root = resolve(import.meta.dirname, '../../..');
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [join(root, dir, entry.name)] : [],
  );
}
/** The methods some code calls: every `.call('<method>'` in it. */
function methodsCalledIn(files: string[]): string[] {
  const called = new Set<string>();
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\.call\(\s*'([a-zA-Z]+\.[a-zA-Z]+)'/g)) called.add(m[1]!);
  }
  return [...called].sort();
}
const allowedTo = (caller: Caller) => (Object.keys(METHODS) as Method[]).filter((m) => METHODS[m].callers.includes(caller)).sort();

describe('who may call each method', () => {
  it('is exactly the written-out list', () => {
    const actual = Object.fromEntries(Object.entries(METHODS).map(([m, spec]) => [m, [...spec.callers].sort()]));
    const expected = Object.fromEntries(Object.entries(EXPECTED).map(([m, callers]) => [m, [...callers].sort()]));
    expect(actual).toEqual(expected);
  });

  it('gives the panel exactly the methods src/ui/panel calls', () => {
    const called = methodsCalledIn(sources('src/ui/panel'));
    // The scan finds the panel's calls (a sanity check that it reads what it should).
    expect(called).toContain('convo.send');
    expect(allowedTo(PANEL)).toEqual(called);
  });

  it('gives the content script exactly the methods it calls', () => {
    const called = methodsCalledIn([join(root, 'entrypoints/bsky.content.ts'), ...sources('src/content')]);
    expect(allowedTo(CONTENT)).toEqual(called);
    expect(called).toEqual(['convo.status', 'panel.ticket']);
  });

  it('never gives the panel sign-in or out, network settings, devices or tickets', () => {
    const never: Method[] = ['auth.signIn', 'auth.signOut', 'settings.network', 'settings.setNetwork', 'devices.list', 'devices.revoke', 'panel.ticket'];
    for (const m of never) expect(METHODS[m].callers, m).not.toContain(PANEL);
    // And that is all it is not given.
    expect((Object.keys(METHODS) as Method[]).filter((m) => !METHODS[m].callers.includes(PANEL)).sort()).toEqual([...never].sort());
  });

  it('refuses every caller a method does not list, with Forbidden, before parsing or running anything', async () => {
    const ran: string[] = [];
    const handlers = new Proxy({} as RpcHandlers, {
      get: (_t, method: string) => () => {
        ran.push(method);
        return {};
      },
    });
    for (const method of Object.keys(METHODS) as Method[]) {
      for (const caller of CALLERS.filter((c) => !METHODS[method].callers.includes(c))) {
        // Params no parser accepts: a method that got past the caller check would say BadRequest.
        const answer = await dispatch(handlers, caller, { rpc: 1, id: 1, method, params: { junk: true } }, 7);
        expect(answer, `${method} for ${caller}`).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
      }
    }
    expect(ran).toEqual([]);
  });

  it('pushes the panel what its page shows (status, changes, progress); content scripts no progress', () => {
    expect(EVENT_LISTENERS).toEqual({
      'convo.status': expect.arrayContaining([PAGE, PANEL, CONTENT]),
      'convo.changed': expect.arrayContaining([PAGE, PANEL, CONTENT]),
      'convo.progress': [PAGE, PANEL],
    });
    expect(EVENT_LISTENERS['convo.status']).toHaveLength(3);
    expect(EVENT_LISTENERS['convo.changed']).toHaveLength(3);
  });
});
