import { convoIdFromPath } from './convo-route';
import { createConvoMount, type ConvoMount } from './convo-mount';
import type { ConvoStatus } from '../rpc/methods';
import type { Theme } from '../ui/theme';

/** bsky.app's conversation screen (`Layout.Screen testID="convoScreen"`). */
export const CONVO_SCREEN_SELECTOR = '[data-testid="convoScreen"]';

export interface WatcherDeps {
  doc: Document;
  location: { pathname: string };
  /** The panel frame's URL, with a ticket from the background (so it takes a moment). */
  panelUrl(convoId: string, theme: Theme | undefined): Promise<string>;
  convoStatus(convoId: string): Promise<ConvoStatus>;
  /** bsky.app's current theme (see bsky-theme.ts); the panel is drawn in it. */
  theme?(): Theme | undefined;
}

/**
 * bsky.app's navigator keeps earlier screens in the DOM and hides them, so several conversation
 * screens can exist at once: the one to decorate is the last visible one.
 */
export function findConvoScreen(doc: Document): HTMLElement | undefined {
  const screens = Array.from(doc.querySelectorAll<HTMLElement>(CONVO_SCREEN_SELECTOR));
  for (let i = screens.length - 1; i >= 0; i--) {
    const el = screens[i]!;
    if (typeof el.checkVisibility !== 'function' || el.checkVisibility()) return el;
  }
  return undefined;
}

/**
 * Keeps exactly one mount on the visible conversation screen of the current route, drawn in
 * bsky.app's current theme. `reconcile` is idempotent and cheap, so it can run on every
 * navigation and DOM mutation (including a theme change on <html>).
 */
export function createConvoWatcher(deps: WatcherDeps) {
  let mounted: { mount: ConvoMount; anchor: HTMLElement } | undefined;

  async function refreshStatus(mount: ConvoMount) {
    try {
      mount.showStatus(await deps.convoStatus(mount.convoId));
    } catch (error) {
      mount.showStatus({ convoId: mount.convoId, error: String((error as Error).message) });
    }
  }

  function unmount() {
    mounted?.mount.destroy();
    mounted = undefined;
  }

  function reconcile() {
    const convoId = convoIdFromPath(deps.location.pathname);
    const anchor = convoId ? findConvoScreen(deps.doc) : undefined;
    if (
      mounted &&
      (mounted.mount.convoId !== convoId ||
        mounted.anchor !== anchor ||
        !mounted.mount.host.isConnected)
    ) {
      unmount();
    }
    const theme = deps.theme?.();
    if (!mounted && convoId && anchor) {
      const mount = createConvoMount(deps.doc, {
        convoId,
        theme,
        panelUrl: (t) => deps.panelUrl(convoId, t),
        onTogglePanel: () => void refreshStatus(mount),
      });
      anchor.prepend(mount.host);
      mounted = { mount, anchor };
      void refreshStatus(mount);
    }
    mounted?.mount.setTheme(theme);
  }

  return {
    reconcile,
    /** A status the background pushed: shown if it is about the mounted conversation. */
    showStatus(status: ConvoStatus) {
      if (mounted && mounted.mount.convoId === status.convoId) mounted.mount.showStatus(status);
    },
    refresh: () => (mounted ? refreshStatus(mounted.mount) : Promise.resolve()),
    stop: unmount,
  };
}
