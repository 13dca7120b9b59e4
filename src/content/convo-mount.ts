import type { ConvoStatus } from '../rpc/methods';
import type { Theme } from '../ui/theme';

/**
 * What the content script puts into bsky.app's conversation screen: a lock toggle and the panel
 * iframe. The toggle only shows state and opens or closes the panel; turning encryption on or
 * off happens inside the panel (extension origin), so a page script that forges clicks or
 * restyles our host cannot change what is encrypted. No message text ever passes through here.
 */
export interface ConvoMount {
  readonly convoId: string;
  readonly host: HTMLElement;
  /** The bsky.app theme the toggle and the panel are drawn in. */
  readonly theme: Theme | undefined;
  showStatus(status: ConvoStatus | { convoId: string; error: string }): void;
  /**
   * Follows a change of bsky.app's theme. The panel only takes its theme from its URL (never
   * from a message the page could forge), so it gets a fresh frame at the new URL; a new
   * element rather than a new `src`, which would add an entry to the tab's history.
   */
  setTheme(theme: Theme | undefined): void;
  destroy(): void;
}

export interface ConvoMountOptions {
  convoId: string;
  theme: Theme | undefined;
  panelUrl(theme: Theme | undefined): string;
  onTogglePanel(open: boolean): void;
}

export const HOST_ATTRIBUTE = 'data-atmessaging-convo';

const STYLE = `
:host { all: initial; display: block; font: 14px/1.4 system-ui, sans-serif; }
.bar { display: flex; align-items: center; gap: 8px; padding: 6px 12px; }
button { font: inherit; display: inline-flex; align-items: center; gap: 6px; border-radius: 999px;
  border: 1px solid #8884; padding: 4px 12px; background: transparent; color: inherit; cursor: pointer; }
button[aria-pressed="true"] { background: #1083fe; border-color: #1083fe; color: #fff; }
button:focus-visible { outline: 2px solid #1083fe; outline-offset: 2px; }
.bar { color: #0b0f14; }
@media (prefers-color-scheme: dark) { .bar:not([data-theme]) { color: #f1f3f5; } }
.bar[data-theme="dim"] { color: #f1f3f5; }
.bar[data-theme="dark"] { color: #ffffff; }
iframe { display: block; width: 100%; height: min(70vh, 560px); border: 0; }
iframe[hidden] { display: none; }
`;

const SVG = 'http://www.w3.org/2000/svg';

/** A padlock drawn inline: no font or image request, and it renders where emoji fonts are absent. */
function lockIcon(doc: Document): SVGSVGElement {
  const svg = doc.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const shackle = doc.createElementNS(SVG, 'path');
  shackle.setAttribute('d', 'M5 7V5a3 3 0 0 1 6 0v2');
  shackle.setAttribute('fill', 'none');
  shackle.setAttribute('stroke', 'currentColor');
  shackle.setAttribute('stroke-width', '1.6');
  const body = doc.createElementNS(SVG, 'rect');
  for (const [k, v] of Object.entries({ x: '3', y: '7', width: '10', height: '7.5', rx: '1.5', fill: 'currentColor' })) {
    body.setAttribute(k, v);
  }
  svg.append(shackle, body);
  return svg;
}

export function createConvoMount(doc: Document, options: ConvoMountOptions): ConvoMount {
  const { convoId } = options;
  let theme = options.theme;
  const host = doc.createElement('div');
  host.setAttribute(HOST_ATTRIBUTE, convoId);
  const root = host.attachShadow({ mode: 'open' });

  const style = doc.createElement('style');
  style.textContent = STYLE;

  const bar = doc.createElement('div');
  bar.className = 'bar';
  if (theme) bar.dataset.theme = theme;
  const toggle = doc.createElement('button');
  toggle.type = 'button';
  toggle.setAttribute('data-testid', 'atm-toggle');
  toggle.setAttribute('aria-pressed', 'false');
  toggle.setAttribute('aria-controls', 'atm-panel');
  const label = doc.createElement('span');
  label.textContent = 'Encrypted chat';
  const state = doc.createElement('span');
  state.setAttribute('data-testid', 'atm-state');
  state.textContent = '…';
  toggle.append(lockIcon(doc), label, ' · ', state);
  bar.append(toggle);

  function panelFrame(hidden: boolean): HTMLIFrameElement {
    const frame = doc.createElement('iframe');
    frame.id = 'atm-panel';
    frame.title = 'atmessaging encrypted chat';
    frame.src = options.panelUrl(theme);
    frame.referrerPolicy = 'no-referrer';
    frame.hidden = hidden;
    return frame;
  }
  let frame = panelFrame(true);

  toggle.addEventListener('click', (event) => {
    // Only a real user gesture opens or closes the panel.
    if (!event.isTrusted) return;
    const open = frame.hidden;
    frame.hidden = !open;
    toggle.setAttribute('aria-pressed', String(open));
    options.onTogglePanel(open);
  });

  root.append(style, bar, frame);

  return {
    convoId,
    host,
    get theme() {
      return theme;
    },
    showStatus(status) {
      state.textContent = 'error' in status ? 'unavailable' : status.encrypted ? 'on' : 'off';
    },
    setTheme(next) {
      if (next === theme) return;
      theme = next;
      if (theme) bar.dataset.theme = theme;
      else delete bar.dataset.theme;
      // An open panel stays open, in the new theme.
      const fresh = panelFrame(frame.hidden);
      frame.replaceWith(fresh);
      frame = fresh;
    },
    destroy() {
      host.remove();
    },
  };
}
