import { isPanelTicket } from './panel-tickets';

/** The subset of `runtime.MessageSender` the browser fills in for a connecting port. */
export interface SenderLike {
  id?: string;
  url?: string;
  tab?: unknown;
  frameId?: number;
}

const BSKY_ORIGIN = 'https://bsky.app';
/** The one page of ours that is ever framed: by our content script, inside bsky.app. */
const PANEL_PATH = '/panel.html';

export interface ExtensionSelf {
  /** `runtime.id` */
  id: string;
  /** origin of `runtime.getURL('/')`, e.g. `chrome-extension://<id>` or `moz-extension://<uuid>` */
  origin: string;
}

/**
 * Where a port comes from, as far as the browser's own report shows:
 * - `extension-page`: a page of ours that is not framed (popup, options, any tab whose own
 *   document is ours);
 * - `content-script`: our script in bsky.app's top frame;
 * - `framed-page`: our panel page framed inside a bsky.app tab, carrying a ticket. It is not a
 *   caller yet: it becomes `'panel'` only if `PanelTickets.admit` accepts the ticket for this
 *   tab and frame (server.ts), since the report cannot say who made the frame.
 */
export type SenderClass =
  | { kind: 'extension-page' }
  | { kind: 'content-script'; tabId: number }
  | { kind: 'framed-page'; tabId: number; frameId: number; ticket: string };

/**
 * `scheme://host` of a URL. Built by hand because `URL.origin` is the opaque "null" for
 * non-special schemes in some runtimes (Node, older Firefox), which would make every
 * extension URL compare equal.
 */
export function originOf(url: string | undefined): string | undefined {
  // Only a string: `new URL` would take an array or an object by its text.
  if (typeof url !== 'string' || !url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.host ? `${parsed.protocol}//${parsed.host}` : undefined;
  } catch {
    return undefined;
  }
}

/** A tab or frame id as the browsers report them (Firefox uses -1 for "none"). */
function idAtLeast(value: unknown, min: number): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= min ? (value as number) : undefined;
}

/** `sender.tab.id` and `sender.tab.url`'s origin; `tab` is whatever the browser put there (null included: found by fuzzing). */
function tabOf(tab: unknown): { id?: number; origin?: string } {
  const t = typeof tab === 'object' && tab !== null ? (tab as { id?: unknown; url?: unknown }) : {};
  return { id: idAtLeast(t.id, 0), origin: typeof t.url === 'string' ? originOf(t.url) : undefined };
}

/** The panel's ticket, if `url` is our panel page with exactly one well-formed `ticket` param. */
function panelTicketOf(url: string): string | undefined {
  const parsed = new URL(url);
  const tickets = parsed.searchParams.getAll('ticket');
  return parsed.pathname === PANEL_PATH && tickets.length === 1 && isPanelTicket(tickets[0]) ? tickets[0] : undefined;
}

/**
 * Decides where a port comes from, from what the browser itself reports about it (never from
 * a message). Anything else — another extension, an unknown origin, a sender without a URL, a
 * framed page of ours that is not the panel inside bsky.app, or whose report lacks a tab or
 * frame id — is refused by returning undefined.
 */
export function classifySender(sender: SenderLike | undefined, self: ExtensionSelf): SenderClass | undefined {
  if (!sender || sender.id !== self.id) return undefined;
  const origin = originOf(sender.url);
  if (!origin) return undefined;
  const frameId = idAtLeast(sender.frameId, 0);
  if (origin === self.origin) {
    // Outside any tab (popup, background) or a tab's own document (frame 0: options, a tab
    // opened at one of our URLs): the page is ours from the top, nothing frames it.
    if (sender.tab === undefined || frameId === 0) return { kind: 'extension-page' };
    // Framed. The frame's own URL is ours, but a frame nested anywhere in the page (or, in
    // Firefox, any site) can make one: only the panel page inside bsky.app with a ticket goes
    // on to have its ticket checked.
    const tab = tabOf(sender.tab);
    if (tab.id === undefined || frameId === undefined || tab.origin !== BSKY_ORIGIN) return undefined;
    const ticket = panelTicketOf(sender.url!);
    return ticket ? { kind: 'framed-page', tabId: tab.id, frameId, ticket } : undefined;
  }
  // Our content script runs in bsky.app's top frame only (the manifest asks for no other frame).
  const tabId = tabOf(sender.tab).id;
  if (origin === BSKY_ORIGIN && tabId !== undefined && frameId === 0) return { kind: 'content-script', tabId };
  return undefined;
}
