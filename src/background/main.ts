import { browser } from 'wxt/browser';
import { createPortHub, servePort } from '../rpc/server';
import { originOf } from '../rpc/sender';
import { openAtmDb } from '../store/db';
import { idbConvoSettings } from '../store/convo-settings';
import { createHandlers } from './handlers';
import type { ConvoSettingsStore } from '../engine/ports';

/**
 * Wires the background: IndexedDB, the clock and the RPC server. The worker can be stopped
 * at any moment, so nothing here keeps state that is not also in IndexedDB.
 */
export function startBackground(): void {
  let settings: Promise<ConvoSettingsStore> | undefined;
  const hub = createPortHub();
  const handlers = createHandlers({
    notifyConvoStatus: (status) => hub.broadcast('convo.status', status),
    version: browser.runtime.getManifest().version,
    startedAt: Date.now(),
    clock: { now: () => Date.now() },
    // A failed open is not cached: the next request tries again.
    convoSettings: () =>
      (settings ??= openAtmDb()
        .then(idbConvoSettings)
        .catch((error: unknown) => {
          settings = undefined;
          throw error;
        })),
  });
  const self = {
    id: browser.runtime.id,
    origin: originOf(browser.runtime.getURL('/'))!,
  };
  browser.runtime.onConnect.addListener((port) => {
    servePort(port, handlers, self, hub);
  });
}
