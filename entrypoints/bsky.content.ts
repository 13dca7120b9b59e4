import { browser } from 'wxt/browser';
import { bskyTheme, panelUrl } from '../src/content/bsky-theme';
import { createConvoWatcher } from '../src/content/convo-watcher';
import { createRpcClient } from '../src/rpc/client';
import type { ConvoStatus } from '../src/rpc/methods';

/**
 * Courier only: follows bsky.app's routing and mounts the toggle and the panel iframe on
 * conversation screens. It may ask the background for a conversation's status and for the
 * ticket of each panel frame it makes, and nothing else.
 */
export default defineContentScript({
  matches: ['https://bsky.app/*'],
  runAt: 'document_idle',
  main(ctx) {
    const rpc = createRpcClient((name) => browser.runtime.connect({ name }), { timeoutMs: 10_000 });
    const watcher = createConvoWatcher({
      doc: document,
      location: window.location,
      panelUrl: async (convoId, theme) =>
        panelUrl(browser.runtime.getURL('/panel.html'), convoId, theme, (await rpc.call('panel.ticket', {})).ticket),
      convoStatus: (convoId) => rpc.call('convo.status', { convoId }),
      theme: () => bskyTheme(document),
    });

    // Route changes come from the Navigation API (or polling) via WXT; the screen itself
    // renders later, so DOM mutations also trigger a (coalesced) reconcile.
    let scheduled = false;
    const schedule = () => {
      if (scheduled || !ctx.isValid) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        if (ctx.isValid) watcher.reconcile();
      });
    };
    // The Navigation API reports a route before the URL commits: look again a tick later.
    ctx.addEventListener(window, 'wxt:locationchange', () => ctx.setTimeout(schedule, 0));
    // Attributes too: bsky.app can show a kept screen again by restyling it, adding no nodes.
    const observer = new MutationObserver(schedule);
    observer.observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ['style', 'class', 'hidden', 'aria-hidden'],
    });
    // bsky.app states its theme as a class on <html> (bsky-theme.ts): follow its changes.
    const themeObserver = new MutationObserver(schedule);
    themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
    const stopEvents = rpc.onEvent((event) => {
      if (event.event === 'convo.status') watcher.showStatus(event.data as ConvoStatus);
    });
    ctx.addEventListener(document, 'visibilitychange', () => {
      if (document.visibilityState === 'visible') void watcher.refresh();
    });
    ctx.onInvalidated(() => {
      stopEvents();
      observer.disconnect();
      themeObserver.disconnect();
      watcher.stop();
      rpc.close();
    });
    watcher.reconcile();
  },
});
