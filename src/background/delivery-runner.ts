import type { DeliveryEngine } from '../engine/delivery-engine';
import type { PollReport } from '../engine/inbox';
import { EVENT_COLLECTION_NSID } from '../protocol/records';

/**
 * Opens a wake-up stream on one PDS for the DIDs in `dids` (re-read on every frame). `rkeys`:
 * the event records a commit created (see watchRepos), undefined when the frame cannot say.
 */
export type WatchPds = (
  pdsUrl: string,
  dids: ReadonlySet<string>,
  onChange: (did: string, collections?: readonly string[], rkeys?: readonly string[]) => void,
  onClosed: () => void,
) => { close(): void };

export interface DeliveryRunnerDeps {
  engine: DeliveryEngine;
  /** Our own DID and our conversation contacts (their repos may hold invites for us). */
  contacts(): readonly string[];
  /** The PDS of a DID (from its DID document). */
  pdsOf(did: string): Promise<string>;
  watch: WatchPds;
  /** Polling is the fallback when no stream is open or a wake-up was missed. */
  pollIntervalMs: number;
  /**
   * The first full round starts this long after the runner (default 0: at once), unless a
   * `kick` comes first. A worker woken by a page answers the page before the round's network
   * and CPU work competes with the answer.
   */
  firstRoundDelayMs?: number;
  setTimer(fn: () => void, ms: number): unknown;
  /** The clock the engine's due times are on (defaults to Date.now). */
  now?(): number;
  /** What a round read: the background tells open pages and shows notifications. */
  onPolled?(report: PollReport): void;
  clearTimer(handle: unknown): void;
  onError?(error: unknown): void;
}

export interface DeliveryRunner {
  /** Run a full round now (e.g. the user sent a message, or an alarm fired). */
  kick(): Promise<void>;
  stop(): void;
}

/**
 * Keeps a device's delivery going while the background runs (docs/protocol.md §7): a round
 * publishes the outbox, reads peers' repos, finalises epochs, and publishes what that produced.
 * Rounds run one at a time; wake-ups during a round collapse into one more round. The PDS
 * firehose of every repo we read is the wake-up signal; a timer polls anyway, since a stream can
 * drop frames or fail to open.
 *
 * Two kinds of round: a full one (start, `kick`, the timer) reads every repo; a round woken by
 * the firehose reads only the repos whose events changed (and retries parked events), so the
 * wake-up of one peer's message costs one read, not one per member. A narrowed read that fails
 * is not retried here: its cursor did not move, and the next full round reads it again. Full
 * rounds come at least every `pollIntervalMs` however many wake-ups there are.
 */
export function startDeliveryRunner(deps: DeliveryRunnerDeps): DeliveryRunner {
  const now = () => deps.now?.() ?? Date.now();
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: unknown;
  /**
   * Work waiting for the next round: a full read, repos a wake-up named (each with the lowest
   * event key the frames named, null when a frame could not say), or maintenance only.
   */
  let fullDue = true;
  const woken = new Map<string, string | null>();
  let maintenanceDue = false;
  let lastFullAt = now();
  const watched = new Map<string, { dids: Set<string>; close(): void }>();

  /** The contacts the last full round read: one that came since has never been read. */
  let readContacts = new Set<string>();

  async function round(): Promise<void> {
    const contacts = deps.contacts();
    // Someone new to read (the panel opened a conversation with them): whatever woke this round,
    // it reads everything, or an invite waiting in their repo would wait for the timer, since
    // no stream watches their repo yet.
    const full = fullDue || contacts.some((did) => !readContacts.has(did));
    if (full) readContacts = new Set(contacts);
    const only = full ? undefined : [...woken.keys()];
    const startAt = new Map([...woken].filter((entry): entry is [string, string] => entry[1] !== null));
    fullDue = false;
    woken.clear();
    maintenanceDue = false;
    if (full) lastFullAt = now();
    // A wake-up is someone else's write: read it first; ours go out after, in this round.
    if (full) await deps.engine.flush();
    const report = await deps.engine.poll(contacts, only ? { only, startAt } : {});
    if (report.outcomes.length > 0) deps.onPolled?.(report);
    await deps.engine.maintain();
    await deps.engine.flush();
    await updateWatches();
  }

  async function updateWatches(): Promise<void> {
    const groups = await deps.engine.groups();
    const dids = new Set([...deps.contacts(), ...groups.flatMap((g) => g.memberDids)]);
    const byPds = new Map<string, Set<string>>();
    for (const did of dids) {
      try {
        const pds = await deps.pdsOf(did);
        byPds.set(pds, (byPds.get(pds) ?? new Set()).add(did));
      } catch (error) {
        deps.onError?.(error);
      }
    }
    for (const [pds, set] of byPds) {
      const current = watched.get(pds);
      if (current) {
        current.dids.clear();
        for (const did of set) current.dids.add(did); // the stream re-reads the set per frame
        continue;
      }
      const entry = {
        dids: set,
        close: () => {},
      };
      const onChange = (did: string, collections?: readonly string[], rkeys?: readonly string[]) => {
        deps.engine.noteRepoChanged(did, collections);
        const events = !collections || collections.includes(EVENT_COLLECTION_NSID);
        // Event records deleted and nothing created (a peer's retention): nothing to read.
        const created = !rkeys || rkeys.length > 0;
        if (events && created) {
          const lowest = rkeys ? rkeys.reduce((a, b) => (b < a ? b : a)) : null;
          const before = woken.get(did);
          woken.set(did, before === undefined ? lowest : before === null || lowest === null ? null : lowest < before ? lowest : before);
        } else if (collections?.some((c) => c !== EVENT_COLLECTION_NSID)) {
          // Device or key-package records: maintenance reviews the DID.
          maintenanceDue = true;
        } else {
          return;
        }
        void run();
      };
      const stream = deps.watch(pds, entry.dids, onChange, () => {
        // Closed or failed: forget it; the next round opens it again.
        if (watched.get(pds) === entry) watched.delete(pds);
      });
      entry.close = () => stream.close();
      watched.set(pds, entry);
    }
    for (const [pds, entry] of watched) {
      if (!byPds.has(pds)) {
        entry.close();
        watched.delete(pds);
      }
    }
  }

  function schedule(): void {
    if (stopped) return;
    if (timer !== undefined) deps.clearTimer(timer);
    // Counted from the last full round, not the last round: a busy conversation's wake-ups must
    // not postpone the full read forever.
    const untilFull = Math.max(0, lastFullAt + deps.pollIntervalMs - now());
    // A membership change waiting for this device's turn (§6.9) is due before the next poll.
    const due = deps.engine.nextDueAt?.();
    const wait = due === undefined ? untilFull : Math.min(untilFull, Math.max(1000, due - now()));
    timer = deps.setTimer(() => void kick(), wait);
  }

  function pending(): boolean {
    return fullDue || woken.size > 0 || maintenanceDue;
  }

  function run(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) return running; // the loop below picks up what was just asked for
    running = (async () => {
      try {
        while (pending() && !stopped) {
          try {
            await round();
          } catch (error) {
            deps.onError?.(error);
          }
        }
      } finally {
        running = undefined;
        schedule();
      }
    })();
    return running;
  }

  function kick(): Promise<void> {
    fullDue = true;
    return run();
  }

  if (deps.firstRoundDelayMs) timer = deps.setTimer(() => void kick(), deps.firstRoundDelayMs);
  else void run();
  return {
    kick,
    stop() {
      stopped = true;
      if (timer !== undefined) deps.clearTimer(timer);
      for (const entry of watched.values()) entry.close();
      watched.clear();
    },
  };
}
