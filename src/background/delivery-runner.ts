import type { DeliveryEngine } from '../engine/delivery-engine';
import type { PollReport } from '../engine/inbox';

/** Opens a wake-up stream on one PDS for the DIDs in `dids` (re-read on every frame). */
export type WatchPds = (
  pdsUrl: string,
  dids: ReadonlySet<string>,
  onChange: (did: string, collections?: readonly string[]) => void,
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
  setTimer(fn: () => void, ms: number): unknown;
  /** The clock the engine's due times are on (defaults to Date.now). */
  now?(): number;
  /** What a round read: the background tells open pages and shows notifications. */
  onPolled?(report: PollReport): void;
  clearTimer(handle: unknown): void;
  onError?(error: unknown): void;
}

export interface DeliveryRunner {
  /** Run a round now (e.g. the user sent a message, or an alarm fired). */
  kick(): Promise<void>;
  stop(): void;
}

/**
 * Keeps a device's delivery going while the background runs (docs/protocol.md §7): a round
 * publishes the outbox, reads peers' repos, finalises epochs, and publishes what that produced.
 * Rounds run one at a time; wake-ups during a round collapse into one more round. The PDS
 * firehose of every repo we read is the wake-up signal; a timer polls anyway, since a stream can
 * drop frames or fail to open.
 */
export function startDeliveryRunner(deps: DeliveryRunnerDeps): DeliveryRunner {
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: unknown;
  const watched = new Map<string, { dids: Set<string>; close(): void }>();

  async function round(): Promise<void> {
    await deps.engine.flush();
    const report = await deps.engine.poll(deps.contacts());
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
      const onChange = (did: string, collections?: readonly string[]) => {
        deps.engine.noteRepoChanged(did, collections);
        void kick();
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
    // A membership change waiting for this device's turn (§6.9) is due before the next poll.
    const due = deps.engine.nextDueAt?.();
    const now = deps.now?.() ?? Date.now();
    const wait = due === undefined ? deps.pollIntervalMs : Math.max(1000, Math.min(deps.pollIntervalMs, due - now));
    timer = deps.setTimer(() => void kick(), wait);
  }

  function kick(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          try {
            await round();
          } catch (error) {
            deps.onError?.(error);
          }
        } while (again && !stopped);
      } finally {
        running = undefined;
        schedule();
      }
    })();
    return running;
  }

  void kick();
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
