import type { ConvoStatus } from '../rpc/methods';
import type { Theme } from '../ui/theme';
// Inlined as a string, minified by the build: it goes into our shadow root, not the page.
import STYLE from './convo-mount.css?inline';

/**
 * What the content script puts into bsky.app's conversation screen: a lock toggle and, once the
 * user opens it, the panel iframe. The toggle only shows state and opens or closes the panel;
 * turning encryption on or off happens inside the panel (extension origin), so a page script
 * that forges clicks or restyles our host cannot change what is encrypted. No message text ever
 * passes through here.
 */
export interface ConvoMount {
  readonly convoId: string;
  readonly host: HTMLElement;
  showStatus(status: ConvoStatus | { convoId: string; error: string }): void;
  /**
   * Follows a change of bsky.app's theme. The panel only takes its theme from its URL (never
   * from a message the page could forge), so it gets a fresh frame at the new URL (with a new
   * ticket); a new element rather than a new `src`, which would add an entry to the tab's history.
   */
  setTheme(theme: Theme | undefined): void;
  destroy(): void;
}

export interface ConvoMountOptions {
  convoId: string;
  theme: Theme | undefined;
  /** Asks the background for a ticket (src/rpc/panel-tickets.ts), so it takes a moment. */
  panelUrl(theme: Theme | undefined): Promise<string>;
  onTogglePanel(open: boolean): void;
}

export const HOST_ATTRIBUTE = 'data-atmessaging-convo';

const SVG = 'http://www.w3.org/2000/svg';
const HTML = 'http://www.w3.org/1999/xhtml';

/** An element with attributes (one helper for HTML and SVG keeps the content script small). */
function element<T extends Element>(doc: Document, ns: string, name: string, attributes: Record<string, string> = {}): T {
  const el = doc.createElementNS(ns, name) as T;
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  return el;
}

/** A padlock drawn inline: no font or image request, and it renders where emoji fonts are absent. */
function lockIcon(doc: Document): SVGElement {
  const svg = element<SVGElement>(doc, SVG, 'svg', { viewBox: '0 0 16 16', width: '14', height: '14', 'aria-hidden': 'true' });
  svg.append(
    element(doc, SVG, 'path', { d: 'M5 7V5a3 3 0 0 1 6 0v2', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.6' }),
    element(doc, SVG, 'rect', { x: '3', y: '7', width: '10', height: '7.5', rx: '1.5', fill: 'currentColor' }),
  );
  return svg;
}

export function createConvoMount(doc: Document, options: ConvoMountOptions): ConvoMount {
  const { convoId } = options;
  let theme = options.theme;
  const host = element<HTMLElement>(doc, HTML, 'div', { [HOST_ATTRIBUTE]: convoId });
  const root = host.attachShadow({ mode: 'open' });

  const style = element<HTMLStyleElement>(doc, HTML, 'style');
  style.textContent = STYLE;

  const bar = element<HTMLElement>(doc, HTML, 'div', { class: 'bar' });
  if (theme) bar.dataset.theme = theme;
  const toggle = element<HTMLButtonElement>(doc, HTML, 'button', {
    type: 'button',
    'data-testid': 'atm-toggle',
    'aria-pressed': 'false',
    'aria-controls': 'atm-panel',
  });
  const label = element(doc, HTML, 'span');
  label.textContent = 'Encrypted chat';
  const state = element(doc, HTML, 'span', { 'data-testid': 'atm-state' });
  state.textContent = '…';
  toggle.append(lockIcon(doc), label, ' · ', state);
  bar.append(toggle);

  // Made on the first open: a conversation only looked at costs bsky.app's page no frame, and
  // the background no panel to serve.
  let frame: HTMLIFrameElement | undefined;
  let open = false;
  let asked = 0;
  /**
   * Makes a frame at a fresh panel URL and puts it in place of the current one (if any) once
   * the URL is there; only the newest one asked for is placed. Without a ticket there is no
   * frame (the background would refuse it): the background is unreachable, which the status
   * asked for on each toggle shows, and the next open tries again.
   */
  const placeFrame = (attempt = 0) => {
    const ask = ++asked;
    options.panelUrl(theme).then(
      (src) => {
        if (ask !== asked) return;
        const fresh = element<HTMLIFrameElement>(doc, HTML, 'iframe', {
          id: 'atm-panel',
          title: 'atmessaging encrypted chat',
          src,
          referrerpolicy: 'no-referrer',
        });
        fresh.hidden = !open;
        if (frame) frame.replaceWith(fresh);
        else root.append(fresh);
        frame = fresh;
      },
      () => {
        // The background may still be waking (Firefox's event page, Chrome's service worker):
        // a few more tries while the panel is open, then the next open tries again.
        if (ask === asked && open && attempt < 3) setTimeout(() => ask === asked && open && placeFrame(attempt + 1), 1000);
      },
    );
  };

  toggle.addEventListener('click', (event) => {
    // Only a real user gesture opens or closes the panel.
    if (!event.isTrusted) return;
    open = !open;
    if (frame) frame.hidden = !open;
    else if (open) placeFrame();
    toggle.setAttribute('aria-pressed', String(open));
    options.onTogglePanel(open);
  });

  root.append(style, bar);

  return {
    convoId,
    host,
    showStatus(status) {
      state.textContent = 'error' in status ? 'unavailable' : status.encrypted ? 'on' : 'off';
    },
    setTheme(next) {
      if (next === theme) return;
      theme = next;
      if (theme) bar.dataset.theme = theme;
      else delete bar.dataset.theme;
      // An open panel stays open, in the new theme (one being made is made again in it).
      if (asked) placeFrame();
    },
    destroy() {
      host.remove();
    },
  };
}
