import { describe, expect, it } from 'vitest';
import type { AccountService } from '../../../src/background/account';
import { createHandlers } from '../../../src/background/handlers';
import { isAtmError } from '../../../src/errors';
import { createRpcClient } from '../../../src/rpc/client';
import type { Method } from '../../../src/rpc/methods';
import { createPanelTickets, type PanelTicketStore } from '../../../src/rpc/panel-tickets';
import type { SenderLike } from '../../../src/rpc/sender';
import { createPortHub, servePort, type RpcHandlers } from '../../../src/rpc/server';
import { parseEvent, RPC_PORT_NAME, type RpcEvent } from '../../../src/rpc/wire';
import { portPair } from './port-pair';
import { contentSender, PANEL_FRAME, panelSender, self, TAB } from './senders';

// The panel frame's way in, through the real port transport: the content script's ticket
// (the background's own `panel.ticket` handler), the framed page presenting it, and what the
// admitted panel may then call.

/** What `storage.session` does for the table: keeps a copy that outlives the background. */
function sessionStore(delayMs = 0): PanelTicketStore {
  let saved: unknown;
  const later = () => new Promise((r) => setTimeout(r, delayMs));
  return {
    load: async () => (await later(), structuredClone(saved)),
    save: async (entries) => void (await later(), (saved = structuredClone(entries))),
  };
}

/** A background: the real ticket handler and background.info; every other method only records that it ran. */
function background(store: PanelTicketStore = sessionStore()) {
  const panelTickets = createPanelTickets({ now: () => Date.now(), store });
  const real = createHandlers({
    version: '1.2.3',
    startedAt: 0,
    clock: { now: () => 0 },
    convoSettings: async () => ({ get: async () => undefined, put: async () => {} }),
    account: {} as AccountService,
    panelTickets,
    notifyConvoStatus: () => {},
    notifyConvoChanged: () => {},
  });
  const ran: string[] = [];
  const handlers = new Proxy(real, {
    get: (target, method: string) =>
      method === 'panel.ticket' || method === 'background.info'
        ? target[method as Method]
        : () => {
            ran.push(method);
            return { ran: method };
          },
  }) as RpcHandlers;
  const hub = createPortHub();
  function connect(sender: SenderLike) {
    const pair = portPair(RPC_PORT_NAME, sender);
    const served = servePort(pair.server, handlers, self, { hub, panelTickets });
    const client = createRpcClient(() => pair.client, { timeoutMs: 500, parseEvent });
    const heard: RpcEvent[] = [];
    client.onEvent((e) => heard.push(e));
    return { pair, served, client, heard };
  }
  return { connect, ran, hub };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

/** The content script asks for a ticket, as it does before making the panel frame. */
async function ticketFor(bg: ReturnType<typeof background>, sender: SenderLike = contentSender): Promise<string> {
  return (await bg.connect(sender).client.call('panel.ticket', {})).ticket;
}

/** Everything the panel never calls, written out (callers.test.ts checks the table says the same). */
const NOT_FOR_PANEL: Method[] = ['auth.signIn', 'auth.signOut', 'settings.network', 'settings.setNetwork', 'devices.list', 'devices.revoke', 'panel.ticket'];

describe('the panel frame, admitted by its ticket', () => {
  it("is the content script's frame in its tab: admitted with the ticket, it gets the panel's methods", async () => {
    const bg = background();
    const ticket = await ticketFor(bg);
    const panel = bg.connect(panelSender(ticket));
    expect(await panel.served).toBe(true);
    await expect(panel.client.call('background.info', {})).resolves.toEqual({ version: '1.2.3', startedAt: 0 });
    await expect(panel.client.call('convo.send', { convoId: 'c1', text: 'hi' })).resolves.toEqual({ ran: 'convo.send' });
    await expect(panel.client.call('contact.unverify', { did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' })).resolves.toEqual({
      ran: 'contact.unverify',
    });
  });

  it('holds what it sends while its ticket is checked, then answers it in order', async () => {
    const bg = background(sessionStore(20));
    const ticket = await ticketFor(bg);
    const panel = bg.connect(panelSender(ticket));
    // Sent at once, before the (slow) table has answered.
    const answers = Promise.all([panel.client.call('background.info', {}), panel.client.call('convo.view', { convoId: 'c1' })]);
    await expect(answers).resolves.toEqual([{ version: '1.2.3', startedAt: 0 }, { ran: 'convo.view' }]);
    expect(bg.ran).toEqual(['convo.view']);
  });

  it('is refused devices.revoke, settings.setNetwork, auth.signOut and every other method it never calls, running none', async () => {
    const bg = background();
    const panel = bg.connect(panelSender(await ticketFor(bg)));
    const params: Partial<Record<Method, unknown>> = {
      'devices.revoke': { rkey: '3lbdevice2222', confirm: true },
      'settings.setNetwork': { plcUrl: 'https://plc.example', handleResolver: 'https://pds.example', chatProxy: 'did:web:x.example#bsky_chat' },
      'auth.signOut': { confirm: true },
      'auth.signIn': { identifier: 'alice.test', appPassword: 'x' },
    };
    for (const method of NOT_FOR_PANEL) {
      expect(await codeOf(panel.client.call(method, (params[method] ?? {}) as never)), method).toBe('Forbidden');
    }
    expect(bg.ran).toEqual([]);
    // The port itself still works: refusals are per method.
    expect(await codeOf(panel.client.call('auth.status', {}))).toBe('resolved');
  });

  it('refuses a framed page of ours without a ticket, with one never issued, of another tab or held by another frame, reading nothing it sent', async () => {
    const bg = background();
    const ticket = await ticketFor(bg);
    const held = await ticketFor(bg);
    expect(await bg.connect(panelSender(held, PANEL_FRAME + 1)).served).toBe(true);
    const refused = [
      { ...panelSender(), url: 'chrome-extension://ext-id/panel.html?convo=c1' },
      panelSender('f'.repeat(32)),
      panelSender(ticket, PANEL_FRAME, TAB + 1),
      panelSender(held, PANEL_FRAME + 2),
    ];
    for (const sender of refused) {
      const port = bg.connect(sender);
      const call = codeOf(port.client.call('background.info', {}));
      expect(await port.served, sender.url).toBe(false);
      expect(port.pair.isConnected()).toBe(false);
      expect(await call).toBe('Disconnected');
    }
    // None of those burnt the ticket of this tab's real frame.
    expect(await bg.connect(panelSender(ticket)).served).toBe(true);
  });

  it('reconnects after the worker stopped: the same frame is the panel again, another frame with its URL is not', async () => {
    const store = sessionStore();
    const before = background(store);
    const ticket = await ticketFor(before);
    expect(await before.connect(panelSender(ticket)).served).toBe(true);

    const after = background(store); // a new worker: nothing in memory, the table in the store
    const again = after.connect(panelSender(ticket));
    expect(await again.served).toBe(true);
    await expect(again.client.call('background.info', {})).resolves.toMatchObject({ version: '1.2.3' });
    expect(await after.connect(panelSender(ticket, PANEL_FRAME + 5)).served).toBe(false);
  });

  it("is issued for the content script's own tab, as the browser reports it: panel.ticket takes no params and no other caller", async () => {
    const bg = background();
    const content = bg.connect(contentSender);
    expect(await codeOf(content.client.call('panel.ticket', { tabId: TAB + 1 } as never))).toBe('BadRequest');
    const ticket = (await content.client.call('panel.ticket', {})).ticket;
    expect(await bg.connect(panelSender(ticket, PANEL_FRAME, TAB + 1)).served).toBe(false);
    // Neither a page of ours nor the panel can get one.
    const popup = bg.connect({ id: 'ext-id', url: 'chrome-extension://ext-id/popup.html' });
    expect(await codeOf(popup.client.call('panel.ticket', {}))).toBe('Forbidden');
    const panel = bg.connect(panelSender(ticket));
    expect(await codeOf(panel.client.call('panel.ticket', {}))).toBe('Forbidden');
  });

  it('hears what its page shows (statuses, changes, progress); a refused frame hears nothing', async () => {
    const bg = background();
    const panel = bg.connect(panelSender(await ticketFor(bg)));
    const stranger = bg.connect(panelSender('e'.repeat(32), PANEL_FRAME + 3));
    await panel.client.call('background.info', {}); // opens the port
    void stranger.client.call('background.info', {}).catch(() => {});
    expect([await panel.served, await stranger.served]).toEqual([true, false]);
    bg.hub.broadcast('convo.status', { convoId: 'c1', encrypted: true });
    bg.hub.broadcast('convo.changed', { convoId: 'c1' });
    bg.hub.broadcast('convo.progress', { convoId: 'c1', phase: 'devices', done: 1, total: 2 });
    await new Promise((r) => setTimeout(r, 5));
    expect(panel.heard.map((e) => e.event)).toEqual(['convo.status', 'convo.changed', 'convo.progress']);
    expect(stranger.heard).toEqual([]);
  });
});
