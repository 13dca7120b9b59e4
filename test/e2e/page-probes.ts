import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Functions evaluated inside bsky.app's page (main world) by both drivers. They must be
 * self-contained: playwright and puppeteer send their source text to the browser.
 */

export interface HostInfo {
  convoId: string | null;
  /** `checkVisibility()` of the host element. */
  visible: boolean;
  /** The host's convoScreen exists and is visible. */
  inVisibleScreen: boolean;
  /** The host is the first child of the last visible convoScreen. */
  onLastVisibleScreen: boolean;
  state: string | null;
  pressed: string | null;
  iframeSrc: string | null;
  iframeHidden: boolean | null;
}

export interface MountSnapshot {
  path: string;
  /** All convoScreen elements, visible or not (the replica keeps stacked screens). */
  convoScreens: number;
  visibleConvoScreens: number;
  /** The title shown by the visible conversation screen, once loaded. */
  visibleTitle: string | null;
  hosts: HostInfo[];
}

export function snapshotMounts(): MountSnapshot {
  const screens = Array.from(document.querySelectorAll<HTMLElement>('[data-testid="convoScreen"]'));
  const visible = screens.filter((s) => s.checkVisibility());
  const last = visible[visible.length - 1];
  const hosts = Array.from(document.querySelectorAll<HTMLElement>('[data-atmessaging-convo]')).map(
    (host): HostInfo => {
      const root = host.shadowRoot;
      const iframe = root ? root.querySelector('iframe') : null;
      const state = root ? root.querySelector('[data-testid="atm-state"]') : null;
      const toggle = root ? root.querySelector('[data-testid="atm-toggle"]') : null;
      const screen = host.parentElement ? host.parentElement.closest('[data-testid="convoScreen"]') : null;
      return {
        convoId: host.getAttribute('data-atmessaging-convo'),
        visible: host.checkVisibility(),
        inVisibleScreen: screen instanceof HTMLElement && screen.checkVisibility(),
        onLastVisibleScreen: last !== undefined && host.parentElement === last && last.firstElementChild === host,
        state: state ? state.textContent : null,
        pressed: toggle ? toggle.getAttribute('aria-pressed') : null,
        iframeSrc: iframe ? iframe.src : null,
        iframeHidden: iframe ? iframe.hidden : null,
      };
    },
  );
  const title = last ? last.querySelector('[data-testid="convoTitle"]') : null;
  return {
    path: location.pathname,
    convoScreens: screens.length,
    visibleConvoScreens: visible.length,
    visibleTitle: title ? title.textContent : null,
    hosts,
  };
}

export interface PageAccessProbe {
  iframeFound: boolean;
  contentDocumentIsNull: boolean;
  /** The error name thrown by `iframe.contentWindow.document`, or 'no-throw:<value>'. */
  documentAccess: string;
  /** The error name thrown by reading `iframe.contentWindow.location.href`, or 'no-throw'. */
  locationAccess: string;
  /** Whether a script-dispatched (untrusted) click on the toggle opened the panel. */
  syntheticClickOpened: boolean;
}

/** What a page script can get at: it must not reach the panel's document. */
export function probePageAccess(): PageAccessProbe {
  const host = document.querySelector<HTMLElement>('[data-atmessaging-convo]');
  const iframe = host && host.shadowRoot ? host.shadowRoot.querySelector('iframe') : null;
  const toggle =
    host && host.shadowRoot ? host.shadowRoot.querySelector<HTMLElement>('[data-testid="atm-toggle"]') : null;
  if (!iframe || !toggle) {
    return {
      iframeFound: false,
      contentDocumentIsNull: false,
      documentAccess: 'n/a',
      locationAccess: 'n/a',
      syntheticClickOpened: false,
    };
  }
  const errName = (fn: () => unknown): string => {
    try {
      const value = fn();
      return `no-throw:${String(value && typeof value === 'object' ? 'object' : value)}`;
    } catch (error) {
      return error instanceof Error || (typeof DOMException !== 'undefined' && error instanceof DOMException)
        ? (error as Error).name
        : String(error);
    }
  };
  const win = iframe.contentWindow;
  const wasHidden = iframe.hidden;
  toggle.click(); // untrusted: must be ignored
  const syntheticClickOpened = iframe.hidden !== wasHidden;
  return {
    iframeFound: true,
    contentDocumentIsNull: iframe.contentDocument === null,
    documentAccess: errName(() => (win as Window).document),
    locationAccess: errName(() => (win as Window).location.href),
    syntheticClickOpened,
  };
}

/** Text of an element inside the panel document (evaluated in the panel frame). */
export function panelText(testId: string): string | null {
  const el = document.querySelector(`[data-testid="${testId}"]`);
  return el ? el.textContent : null;
}

export function manifestVersion(extensionDir: string): string {
  return (JSON.parse(readFileSync(join(extensionDir, 'manifest.json'), 'utf8')) as { version: string }).version;
}

/** A host's snapshot for "mounted on <id> and nothing else". */
export function mountedOn(convoId: string, title: string, state: 'on' | 'off') {
  return {
    path: `/messages/${convoId}`,
    visibleConvoScreens: 1,
    visibleTitle: title,
    hosts: [
      {
        convoId,
        visible: true,
        inVisibleScreen: true,
        onLastVisibleScreen: true,
        state,
      },
    ],
  };
}

/** The theme bsky.app's page states (`theme--*` on <html>); undefined without one. */
export function pageTheme(): string | undefined {
  const match = /(?:^|\s)theme--(light|dim|dark)(?:\s|$)/.exec(document.documentElement.className);
  return match ? match[1] : undefined;
}
