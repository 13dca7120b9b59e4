import { browser } from 'wxt/browser';
import { createPanelTickets } from '../rpc/panel-tickets';
import { createPortHub, servePort } from '../rpc/server';
import { originOf } from '../rpc/sender';
import { openAtmDb, type AtmDb } from '../store/db';
import { idbConvoSettings } from '../store/convo-settings';
import { conversationsWith, createHandlers } from './handlers';
import { createAccountService, type ActiveAccount } from './account';
import type { PollReport } from '../engine/inbox';

const ALARM = 'atmessaging-delivery';
/** The panel tickets' table in `storage.session` (src/rpc/panel-tickets.ts). */
const PANEL_TICKETS_KEY = 'panelTickets';

/**
 * Wires the background: IndexedDB, the account (session, device, delivery), the RPC server,
 * notifications and the alarm that wakes delivery. The worker can be stopped at any moment, so
 * nothing here keeps state that is not also in IndexedDB; the account resumes on first use.
 */
export function startBackground(): void {
  let db: Promise<AtmDb> | undefined;
  // A failed open is not cached: the next request tries again.
  const openDb = () =>
    (db ??= openAtmDb().catch((error: unknown) => {
      db = undefined;
      throw error;
    }));
  const hub = createPortHub();
  const clock = { now: () => Date.now() };
  const logError = (error: unknown) => console.warn('atmessaging:', (error as { code?: string })?.code ?? error);

  let account: ReturnType<typeof createAccountService> | undefined;
  const accounts = async () =>
    (account ??= createAccountService({
      db: await openDb(),
      clock,
      onPolled,
      onContactSafetyChanged,
      // Counts only (no names, no keys): the panel of that conversation shows a progress bar.
      onGroupProgress: ({ convoId, phase, done, total }) => {
        if (convoId) hub.broadcast('convo.progress', { convoId, phase, done, total });
      },
      onError: logError,
    }));

  /** A verified contact's devices changed: open panels of conversations with them re-read. */
  function onContactSafetyChanged(active: ActiveAccount, did: string) {
    void conversationsWith(active, did)
      .then((convoIds) => {
        for (const convoId of convoIds) hub.broadcast('convo.changed', { convoId });
      })
      .catch(logError);
  }

  async function onPolled(active: ActiveAccount, report: PollReport) {
    const groups = await active.engine.groups();
    const convoOf = new Map(groups.map((g) => [g.groupId, g.convoId]));
    const changed = new Set<string>();
    let received = 0;
    for (const outcome of report.outcomes) {
      const convoId = 'groupId' in outcome && outcome.groupId ? convoOf.get(outcome.groupId) : undefined;
      if (convoId) changed.add(convoId);
      if (outcome.kind === 'message') received++;
    }
    for (const convoId of changed) {
      hub.broadcast('convo.changed', { convoId });
      // A join can turn a conversation encrypted on this device: the lock toggle follows.
      void Promise.resolve(handlers['convo.status']({ convoId }, { caller: 'extension-page' }))
        .then((status) => hub.broadcast('convo.status', status))
        .catch(logError);
    }
    if (received > 0) {
      // No plaintext and no names in OS notifications: they are visible outside the browser.
      void browser.notifications
        .create({
          type: 'basic',
          iconUrl: browser.runtime.getURL('/icon/128.png'),
          title: 'atmessaging',
          message: received === 1 ? 'New encrypted message' : `${received} new encrypted messages`,
        })
        .catch(logError);
      const action = browser.action ?? (browser as unknown as { browserAction?: typeof browser.action }).browserAction;
      void action?.setBadgeText({ text: String(received) }).catch(logError);
    }
  }

  // In storage.session, so that a panel reconnecting after the worker stopped is still known:
  // it lives for the browser session, and content scripts cannot read it.
  const panelTickets = createPanelTickets({
    now: clock.now,
    store: {
      load: async () => (await browser.storage.session.get(PANEL_TICKETS_KEY))[PANEL_TICKETS_KEY],
      save: (entries) => browser.storage.session.set({ [PANEL_TICKETS_KEY]: entries }),
    },
  });
  browser.tabs.onRemoved.addListener((tabId) => void panelTickets.forgetTab(tabId).catch(logError));

  const handlers = createHandlers({
    version: browser.runtime.getManifest().version,
    startedAt: Date.now(),
    clock,
    convoSettings: async () => idbConvoSettings(await openDb()),
    panelTickets,
    get account() {
      return lazyAccount;
    },
    notifyConvoStatus: (status) => hub.broadcast('convo.status', status),
    notifyConvoChanged: (convoId) => hub.broadcast('convo.changed', { convoId }),
  });
  // The account service needs the database; handlers get a facade that opens it on first use.
  const lazyAccount: ReturnType<typeof createAccountService> = {
    status: async () => (await accounts()).status(),
    signIn: async (i, p) => (await accounts()).signIn(i, p),
    signOut: async () => (await accounts()).signOut(),
    network: async () => (await accounts()).network(),
    setNetwork: async (s) => (await accounts()).setNetwork(s),
    require: async () => (await accounts()).require(),
    current: async () => (await accounts()).current(),
  };

  const self = { id: browser.runtime.id, origin: originOf(browser.runtime.getURL('/'))! };
  browser.runtime.onConnect.addListener((port) => {
    void servePort(port, handlers, self, { hub, panelTickets });
  });

  // The worker sleeps when idle; the alarm wakes it to publish and read (the firehose only
  // wakes a running worker).
  void browser.alarms.create(ALARM, { periodInMinutes: 1 });
  browser.alarms.onAlarm.addListener((alarm) => {
    if (alarm.name !== ALARM) return;
    void lazyAccount
      .current()
      .then((active) => active?.runner.kick())
      .catch(logError);
  });
  // Resume delivery right away if a session is stored.
  void lazyAccount.current().catch(logError);
}
