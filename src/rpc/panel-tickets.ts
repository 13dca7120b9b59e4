import { toHex } from '../bytes';

/**
 * Single-use tickets that tell our panel frame apart from any other page of ours framed in a
 * tab. The browser reports a framed page's own URL, its tab and its frame id, but not who made
 * the frame: in Firefox (MV2) any page, and any frame nested in bsky.app's page, can frame
 * panel.html (web-accessible resources cannot be limited by origin there). So the content
 * script, when it makes the panel frame, asks for a ticket (`panel.ticket`, content scripts
 * only) bound to its tab, and puts it in the frame's URL (`src/content/bsky-theme.ts`). The
 * first framed page of that tab to present it is admitted as the panel, and the ticket is then
 * bound to that frame for the frame's life: the same frame comes back with it (the Chrome
 * service worker stops when idle and the panel reconnects; a reload keeps the frame and its
 * URL), any other frame presenting it is refused.
 *
 * Only what both browsers report is used: `sender.tab.id`, `sender.frameId` (0 for a tab's own
 * document, stable for a frame across its navigations) and `sender.url`.
 */
export interface PanelTickets {
  /** A fresh ticket for the panel frame the content script of `tabId` is about to make. */
  issue(tabId: number): Promise<string>;
  /**
   * Whether a page of ours in frame `frameId` of tab `tabId`, whose URL carries `ticket`, is the
   * panel frame the ticket was issued for: a ticket of this tab, unexpired and never used, or
   * used by this very frame before. Refusals change nothing (a wrong presentation neither burns
   * a ticket nor unbinds the frame that holds it).
   */
  admit(tabId: number, frameId: number, ticket: string): Promise<boolean>;
  /** The tab closed: its tickets can never be presented again. */
  forgetTab(tabId: number): Promise<void>;
}

/**
 * Where the table survives the background being stopped: `storage.session` in the extension (in
 * memory for the browser session, and readable by the extension's own pages only, not by
 * content scripts). Without a store the table lives as long as the background.
 */
export interface PanelTicketStore {
  load(): Promise<unknown>;
  save(entries: TicketEntry[]): Promise<void>;
}

export interface TicketEntry {
  ticket: string;
  tabId: number;
  issuedAt: number;
  /** The frame that presented it first; absent while it is unused. */
  frameId?: number;
  /** Issue or last admission: the least recently seen go first when a tab has too many. */
  seenAt: number;
}

/** How long an unused ticket stays valid: the frame loads and connects within seconds. */
export const TICKET_TTL_MS = 30_000;
/** Unused tickets per tab; a new one pushes out the oldest. */
export const MAX_UNUSED_PER_TAB = 4;
/** Frames admitted per tab (the content script keeps one panel frame; a theme change replaces it). */
export const MAX_FRAMES_PER_TAB = 4;
/** All tickets of all tabs, in case a tab's closing was never heard of. */
export const MAX_TICKETS = 256;

/** 128 random bits, hex: what the URL carries and `isPanelTicket` accepts. */
const TICKET = /^[0-9a-f]{32}$/;

export function isPanelTicket(value: unknown): value is string {
  return typeof value === 'string' && TICKET.test(value);
}

const isId = (n: unknown, min: number): n is number => Number.isSafeInteger(n) && (n as number) >= min;

/** Entries of a stored table that are well-formed; anything else is dropped. */
function parseEntries(stored: unknown): TicketEntry[] {
  if (!Array.isArray(stored)) return [];
  const entries: TicketEntry[] = [];
  for (const e of stored.slice(0, MAX_TICKETS) as Array<Partial<TicketEntry> | null>) {
    if (!e || !isPanelTicket(e.ticket) || !isId(e.tabId, 0) || !Number.isFinite(e.issuedAt) || !Number.isFinite(e.seenAt)) continue;
    if (e.frameId !== undefined && !isId(e.frameId, 1)) continue;
    entries.push({
      ticket: e.ticket,
      tabId: e.tabId,
      issuedAt: e.issuedAt!,
      seenAt: e.seenAt!,
      ...(e.frameId !== undefined ? { frameId: e.frameId } : {}),
    });
  }
  return entries;
}

export function createPanelTickets(deps: {
  now(): number;
  store?: PanelTicketStore;
  randomBytes?(length: number): Uint8Array;
}): PanelTickets {
  const randomBytes = deps.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  let entries: TicketEntry[] | undefined;
  // One operation at a time, each on the table as the one before left it: a load or a save in
  // between must not let two admissions both see a ticket unused.
  let queue: Promise<unknown> = Promise.resolve();

  function run<T>(op: (table: TicketEntry[]) => { result: T; changed: boolean }): Promise<T> {
    const next = queue.then(async () => {
      // A table that cannot be read is an empty one: tickets issued before are refused, and the
      // panel shows that it could not reach the background (reopening it gets a new ticket).
      entries ??= parseEntries(await deps.store?.load().catch(() => undefined));
      const { result, changed } = op(entries);
      // Kept in memory whatever the store says: a failed save only loses the table if the
      // background also stops.
      if (changed) await deps.store?.save(entries).catch(() => {});
      return result;
    });
    queue = next.catch(() => {});
    return next;
  }

  const unexpired = (e: TicketEntry, now: number) => e.frameId !== undefined || now - e.issuedAt <= TICKET_TTL_MS;

  /** Drops the least recently seen of `tabId`'s entries matching `which` beyond `max`. */
  function trim(table: TicketEntry[], which: (e: TicketEntry) => boolean, max: number): void {
    const over = table.filter(which).sort((a, b) => a.seenAt - b.seenAt);
    for (const e of over.slice(0, Math.max(0, over.length - max))) table.splice(table.indexOf(e), 1);
  }

  return {
    issue(tabId) {
      return run((table) => {
        const now = deps.now();
        const live = table.filter((e) => unexpired(e, now));
        table.splice(0, table.length, ...live);
        const ticket = toHex(randomBytes(16));
        table.push({ ticket, tabId, issuedAt: now, seenAt: now });
        trim(table, (e) => e.tabId === tabId && e.frameId === undefined, MAX_UNUSED_PER_TAB);
        trim(table, () => true, MAX_TICKETS);
        return { result: ticket, changed: true };
      });
    },
    admit(tabId, frameId, ticket) {
      return run((table) => {
        const now = deps.now();
        const entry = table.find((e) => e.ticket === ticket);
        if (!entry || entry.tabId !== tabId || !isId(frameId, 1)) return { result: false, changed: false };
        if (entry.frameId !== undefined) {
          if (entry.frameId !== frameId) return { result: false, changed: false };
          entry.seenAt = now;
          return { result: true, changed: true };
        }
        if (!unexpired(entry, now)) {
          table.splice(table.indexOf(entry), 1);
          return { result: false, changed: true };
        }
        entry.frameId = frameId;
        entry.seenAt = now;
        trim(table, (e) => e.tabId === tabId && e.frameId !== undefined, MAX_FRAMES_PER_TAB);
        return { result: true, changed: true };
      });
    },
    forgetTab(tabId) {
      return run((table) => {
        const kept = table.filter((e) => e.tabId !== tabId);
        const changed = kept.length !== table.length;
        table.splice(0, table.length, ...kept);
        return { result: undefined, changed };
      });
    },
  };
}
