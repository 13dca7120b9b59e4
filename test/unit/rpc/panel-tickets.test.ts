import { describe, expect, it } from 'vitest';
import {
  createPanelTickets,
  isPanelTicket,
  MAX_FRAMES_PER_TAB,
  MAX_TICKETS,
  MAX_UNUSED_PER_TAB,
  TICKET_TTL_MS,
  type PanelTicketStore,
} from '../../../src/rpc/panel-tickets';

const TAB = 7;
const OTHER_TAB = 8;
const FRAME = 12;

function setup(options: { store?: PanelTicketStore } = {}) {
  const clock = { t: 1_000_000 };
  const tickets = createPanelTickets({ now: () => clock.t, ...options });
  return { tickets, clock };
}

/** What `storage.session` does for the table: keeps a copy that outlives the background. */
function memoryStore() {
  let saved: unknown;
  return {
    store: {
      load: async () => structuredClone(saved),
      save: async (entries: unknown) => void (saved = structuredClone(entries)),
    },
    saved: () => saved,
  };
}

describe('panel tickets', () => {
  it('are 128 random bits in hex, a new one each time', async () => {
    const { tickets } = setup();
    const issued = await Promise.all(Array.from({ length: 20 }, () => tickets.issue(TAB)));
    for (const t of issued) expect(isPanelTicket(t), t).toBe(true);
    expect(new Set(issued).size).toBe(20);
  });

  it('admit the first frame of the tab to present one, and that frame again (a reconnect, a reload)', async () => {
    const { tickets, clock } = setup();
    const ticket = await tickets.issue(TAB);
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
    // Hours later, after the worker stopped: the same frame is still the panel.
    clock.t += 6 * 3600_000;
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
  });

  it('are single-use: once a frame has presented one, no other frame can, in any tab', async () => {
    const { tickets } = setup();
    const ticket = await tickets.issue(TAB);
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
    expect(await tickets.admit(TAB, FRAME + 1, ticket)).toBe(false);
    expect(await tickets.admit(OTHER_TAB, FRAME, ticket)).toBe(false);
    // A refusal changes nothing: the frame that holds it keeps it.
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
  });

  it('are refused in another tab than the one they were issued for, which leaves them usable in theirs', async () => {
    const { tickets } = setup();
    const ticket = await tickets.issue(TAB);
    expect(await tickets.admit(OTHER_TAB, FRAME, ticket)).toBe(false);
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
  });

  it('expire unused after a short time', async () => {
    const { tickets, clock } = setup();
    const late = await tickets.issue(TAB);
    const inTime = await tickets.issue(TAB);
    clock.t += TICKET_TTL_MS;
    expect(await tickets.admit(TAB, FRAME, inTime)).toBe(true);
    clock.t += 1;
    expect(await tickets.admit(TAB, FRAME + 1, late)).toBe(false);
    // Gone for good, even if the clock were set back.
    clock.t -= TICKET_TTL_MS;
    expect(await tickets.admit(TAB, FRAME + 1, late)).toBe(false);
  });

  it('refuse a ticket never issued, a malformed one and a frame id that is not a framed one', async () => {
    const { tickets } = setup();
    const ticket = await tickets.issue(TAB);
    expect(await tickets.admit(TAB, FRAME, 'f'.repeat(32))).toBe(false);
    expect(await tickets.admit(TAB, FRAME, `${ticket} `)).toBe(false);
    expect(await tickets.admit(TAB, FRAME, ticket.toUpperCase())).toBe(false);
    expect(await tickets.admit(TAB, 0, ticket)).toBe(false);
    expect(await tickets.admit(TAB, -1, ticket)).toBe(false);
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
  });

  it('admit exactly one of two frames racing with the same ticket', async () => {
    const { tickets } = setup();
    const ticket = await tickets.issue(TAB);
    const results = await Promise.all([tickets.admit(TAB, FRAME, ticket), tickets.admit(TAB, FRAME + 1, ticket)]);
    expect(results).toEqual([true, false]);
  });

  it(`keep at most ${MAX_UNUSED_PER_TAB} unused per tab: a new one pushes out the oldest`, async () => {
    const { tickets, clock } = setup();
    const issued: string[] = [];
    for (let i = 0; i <= MAX_UNUSED_PER_TAB; i++) {
      issued.push(await tickets.issue(TAB));
      clock.t += 1;
    }
    // Another tab's are its own.
    const other = await tickets.issue(OTHER_TAB);
    expect(await tickets.admit(TAB, FRAME, issued[0]!)).toBe(false);
    for (const [i, t] of issued.slice(1).entries()) expect(await tickets.admit(TAB, FRAME + 1 + i, t)).toBe(true);
    expect(await tickets.admit(OTHER_TAB, FRAME, other)).toBe(true);
  });

  it(`keep at most ${MAX_FRAMES_PER_TAB} admitted frames per tab: the one seen least recently goes`, async () => {
    const { tickets, clock } = setup();
    const frames: Array<[number, string]> = [];
    for (let i = 0; i <= MAX_FRAMES_PER_TAB; i++) {
      const t = await tickets.issue(TAB);
      clock.t += 1;
      if (i === 2) expect(await tickets.admit(TAB, FRAME, frames[0]![1])).toBe(true); // the first frame reconnects
      clock.t += 1;
      expect(await tickets.admit(TAB, FRAME + i, t)).toBe(true);
      frames.push([FRAME + i, t]);
      clock.t += 1;
    }
    // The second frame was seen least recently (the first reconnected after it).
    const [second, ...rest] = frames.slice(1);
    expect(await tickets.admit(TAB, second![0], second![1])).toBe(false);
    expect(await tickets.admit(TAB, frames[0]![0], frames[0]![1])).toBe(true);
    for (const [frame, t] of rest) expect(await tickets.admit(TAB, frame, t)).toBe(true);
  });

  it(`keep at most ${MAX_TICKETS} in all`, async () => {
    const { tickets, clock } = setup();
    const first = await tickets.issue(0);
    for (let tab = 1; tab <= MAX_TICKETS; tab++) {
      clock.t += 1;
      await tickets.issue(tab);
    }
    expect(await tickets.admit(0, FRAME, first)).toBe(false);
  });

  it('are forgotten with their tab', async () => {
    const { tickets } = setup();
    const bound = await tickets.issue(TAB);
    expect(await tickets.admit(TAB, FRAME, bound)).toBe(true);
    const unused = await tickets.issue(TAB);
    const other = await tickets.issue(OTHER_TAB);
    await tickets.forgetTab(TAB);
    expect(await tickets.admit(TAB, FRAME, bound)).toBe(false);
    expect(await tickets.admit(TAB, FRAME + 1, unused)).toBe(false);
    expect(await tickets.admit(OTHER_TAB, FRAME, other)).toBe(true);
  });

  it('outlive the background through the store: a new instance knows who was admitted', async () => {
    const { store, saved } = memoryStore();
    const clock = { t: 5_000 };
    const before = createPanelTickets({ now: () => clock.t, store });
    const bound = await before.issue(TAB);
    expect(await before.admit(TAB, FRAME, bound)).toBe(true);
    const unused = await before.issue(TAB);
    expect(saved()).toHaveLength(2);

    // The worker stopped; a new one starts with the stored table.
    const after = createPanelTickets({ now: () => clock.t, store });
    expect(await after.admit(TAB, FRAME + 1, bound)).toBe(false);
    expect(await after.admit(TAB, FRAME, bound)).toBe(true);
    expect(await after.admit(TAB, FRAME + 1, unused)).toBe(true);
  });

  it('drop malformed stored entries, and start empty from a store that fails or holds junk', async () => {
    const good = { ticket: 'a'.repeat(32), tabId: TAB, issuedAt: 0, seenAt: 0, frameId: FRAME };
    const stored = [
      good,
      { ...good, ticket: 'b'.repeat(32), frameId: 0 },
      { ...good, ticket: 'not hex' },
      { ...good, ticket: 'c'.repeat(32), tabId: -1 },
      { ...good, ticket: 'd'.repeat(32), issuedAt: 'yesterday' },
      null,
      7,
    ];
    const from = (load: () => Promise<unknown>) => createPanelTickets({ now: () => 0, store: { load, save: async () => {} } });
    const t = from(async () => stored);
    expect(await t.admit(TAB, FRAME, 'a'.repeat(32))).toBe(true);
    expect(await t.admit(TAB, FRAME, 'b'.repeat(32))).toBe(false);
    expect(await t.admit(TAB, FRAME, 'c'.repeat(32))).toBe(false);
    expect(await t.admit(TAB, FRAME, 'd'.repeat(32))).toBe(false);
    for (const load of [async () => ({ entries: stored }), async () => 'x', () => Promise.reject(new Error('storage'))]) {
      const empty = from(load);
      expect(await empty.admit(TAB, FRAME, 'a'.repeat(32))).toBe(false);
      expect(isPanelTicket(await empty.issue(TAB))).toBe(true);
    }
  });

  it('keep working from memory when saving fails', async () => {
    const tickets = createPanelTickets({
      now: () => 0,
      store: { load: async () => undefined, save: () => Promise.reject(new Error('quota')) },
    });
    const ticket = await tickets.issue(TAB);
    expect(await tickets.admit(TAB, FRAME, ticket)).toBe(true);
  });
});
