import { expect } from 'vitest';
import type { Method } from '../../src/rpc/methods';
import type { OurFrameArgs, PortProbe } from './isolation-probes';

/**
 * The extension-surface checks both browsers run (isolation.product.test.ts in Chromium,
 * firefox.test.ts in Firefox): what the real panel frame may call, and that frames of ours
 * that bsky.app's page (or a frame inside it) makes are refused. The probes themselves are in
 * isolation-probes.ts.
 */

/**
 * Methods the panel is not given, written out: sign-in and out, network settings, devices,
 * tickets (test/unit/rpc/callers.test.ts checks src/rpc/methods.ts says the same).
 */
export const NOT_FOR_PANEL: Method[] = ['auth.signIn', 'auth.signOut', 'settings.network', 'settings.setNetwork', 'devices.list', 'devices.revoke', 'panel.ticket'];

const PROBE_TIMEOUT_MS = 10_000;

/**
 * What the real panel tries on a port of its own frame: background.info (its own method), then
 * every method it is not given. Their params hold a key no parser takes, so a method that got
 * past the caller check would answer BadRequest and change nothing (no sign-out, no revocation
 * in the middle of a test run); only the caller check answers Forbidden.
 */
export const PANEL_PROBE = {
  methods: [{ method: 'background.info', params: {} }, ...NOT_FOR_PANEL.map((method) => ({ method, params: { probe: true } }))],
  timeoutMs: PROBE_TIMEOUT_MS,
};

export function expectPanelAnswers(probe: PortProbe): void {
  expect(probe.closed).toBe(false);
  expect(probe.answers['background.info']).toMatchObject({ ok: true, result: { version: expect.any(String) } });
  for (const method of NOT_FOR_PANEL) {
    expect({ method, answer: probe.answers[method] }).toEqual({ method, answer: { ok: false, code: 'Forbidden' } });
  }
}

/** What a frame the page made tries: the panel's own methods and one it never has. */
export function refusedFrameProbe(convoId: string) {
  return {
    methods: [
      { method: 'background.info', params: {} },
      { method: 'convo.view', params: { convoId } },
      { method: 'devices.revoke', params: { probe: true } },
    ],
    timeoutMs: PROBE_TIMEOUT_MS,
  };
}

/** Closed by the background, nothing answered. */
export function expectRefused(probe: PortProbe, what: string): void {
  const closed = { ok: false, code: 'port closed' };
  expect({ what, probe }).toEqual({
    what,
    probe: { closed: true, answers: { 'background.info': closed, 'convo.view': closed, 'devices.revoke': closed } },
  });
}

/**
 * Frames of ours a page script can make in bsky.app's page: the panel without a ticket, in the
 * page and nested in a frame of the page's own (as any frame inside the page could), and a copy
 * of the real panel frame's URL, ticket included (the page can read it in the open shadow root).
 */
export function rogueFrames(extensionOrigin: string, convoId: string, realPanelSrc: string): OurFrameArgs[] {
  const bare = `${extensionOrigin}/panel.html?convo=${convoId}`;
  return [
    { id: 'atm-rogue-bare', src: bare, nested: false },
    { id: 'atm-rogue-nested', src: bare, nested: true },
    { id: 'atm-rogue-copy', src: realPanelSrc, nested: false },
    { id: 'atm-rogue-nested-copy', src: realPanelSrc, nested: true },
  ];
}
