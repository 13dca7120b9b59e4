import { isAtmError } from '../errors';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord, type EventRecord } from '../protocol/records';
import { blobOrSkip } from './event-bytes';
import { isSealedLength } from '../protocol/padding';
import type { DeliveryDeps } from './delivery-deps';
import { tidBefore } from './tid';
import type { ChangeSet, PendingEvent } from './delivery-state';
import { processEvent, type EventOutcome, type IncomingEvent } from './receive';

const PAGE = 50;

/**
 * Repos whose first page is requested while earlier repos' events are still being processed: a
 * round costs about one round trip per READ_AHEAD repos instead of one per repo. Bounded, since
 * each page may be megabytes and a PDS should not get a burst from one client; processing (and
 * so every store write) stays one repo at a time, in order.
 */
const READ_AHEAD = 4;

type Page = Awaited<ReturnType<DeliveryDeps['publicRepos']['listRecordsAfter']>>;

/** A repo's stored cursor and the request for its first page, started ahead of processing. */
export interface PeerHead {
  stored: Awaited<ReturnType<DeliveryDeps['store']['getCursor']>>;
  /** Where the first page starts (exclusive). */
  after: string | undefined;
  first: Promise<Page>;
}

export interface PollOptions {
  /**
   * Read only these repos (e.g. a firehose wake-up named them), and of them only those a full
   * poll would read: a hint cannot make us read a stranger's repo. Parked events are retried as
   * in every poll. A repo left out, or one that failed, is read by the next full poll from its
   * cursor, so nothing is lost by narrowing a round.
   */
  only?: Iterable<string>;
  /**
   * Per repo, a record key its new events start at (a firehose frame named the records a commit
   * created). Such a repo is read from just before that key, or from its cursor if that is
   * earlier, instead of from a whole look-back window before its cursor: a wake-up for one new
   * message reads that message, not the last 24 hours again. Never earlier than the look-back
   * window. A hint that is wrong (or forged: frames are not verified) makes this read miss a
   * late record, which the next read without a hint (every full poll) finds.
   */
  startAt?: ReadonlyMap<string, string>;
}

export interface PollReport {
  processed: number;
  outcomes: EventOutcome[];
  /** DIDs whose repo could not be read this time (their cursor did not move). */
  unreachable: string[];
}

function changedEpochs(outcome: EventOutcome): boolean {
  return outcome.kind === 'joined' || (outcome.kind === 'commit' && outcome.result !== 'ignored');
}

/**
 * Reads a peer's new events in order from its cursor and processes each in its own transaction
 * together with the cursor (docs/protocol.md §7): a crash between two events re-reads at most
 * the one in flight, and replays are refused by tag consumption and message ids.
 * Unrecognised events are parked (bounded) and retried after each epoch change.
 */
export async function pollPeer(deps: DeliveryDeps, did: string, report: PollReport, head?: Promise<PeerHead>): Promise<boolean> {
  let epochsChanged = false;
  const { stored, after: start, first } = await (head ?? readHead(deps, did));
  const lookbackMicros = deps.policy.lookbackMs * 1000;
  let highest = stored?.rkey;
  let recent = new Set(stored?.recent ?? []);
  let after = start;
  let limit = PAGE;
  let prefetched: Promise<Page> | undefined = first;
  for (;;) {
    let page: Page;
    try {
      page = await (prefetched ?? deps.publicRepos.listRecordsAfter(did, EVENT_COLLECTION_NSID, after, limit));
    } catch (error) {
      prefetched = undefined;
      // A page of large events (e.g. the invites of a big add, up to 64 KiB each) can exceed the
      // response cap: ask for fewer records instead of stalling on this repo.
      if (isAtmError(error, 'PayloadTooLarge') && limit > 1) {
        limit = Math.max(1, Math.floor(limit / 4));
        continue;
      }
      throw error;
    }
    prefetched = undefined;
    for (const record of page.records) {
      after = record.rkey;
      if (recent.has(record.rkey)) continue; // processed already
      highest = highest === undefined || record.rkey > highest ? record.rkey : highest;
      recent.add(record.rkey);
      const floor = tidBefore(highest, lookbackMicros) ?? highest;
      recent = new Set([...recent].filter((rkey) => rkey >= floor));
      const cursor = { did, rkey: highest, updatedAt: deps.clock.now(), recent: [...recent] };
      let changes: ChangeSet = {};
      let parsed: EventRecord | undefined;
      try {
        parsed = parseRecord(EVENT, record.value, record.uri);
      } catch {
        parsed = undefined; // not an event we can read: skip it, but move past it
      }
      const ciphertext = parsed ? await blobOrSkip(deps, did, parsed) : undefined;
      if (parsed && ciphertext) {
        const event: IncomingEvent = { uri: record.uri, did, rkey: record.rkey, tag: parsed.tag, ciphertext };
        const result = await processEvent(deps, event);
        report.outcomes.push(result.outcome);
        changes = result.changes;
        if (waitsForLater(result.outcome) && (await worthParking(deps, event))) {
          const notOurInvite = result.outcome.kind === 'unrecognised' && result.outcome.notOurInvite === true;
          changes = { ...changes, putPending: [{ ...event, firstSeenAt: deps.clock.now(), ...(notOurInvite ? { notOurInvite } : {}) }] };
        }
        epochsChanged ||= changedEpochs(result.outcome);
      }
      await deps.store.apply({ ...changes, putCursors: [cursor] });
      report.processed++;
    }
    if (!page.cursor || page.records.length === 0) break;
  }
  return epochsChanged;
}

/** Where a repo's read starts: before its cursor, looking back (§7), or at a hint (PollOptions.startAt). */
function startAfter(deps: DeliveryDeps, stored: PeerHead['stored'], hint?: string): string | undefined {
  if (!stored) return undefined;
  // Look back: a record can be published after records with newer keys were read.
  const lookback = tidBefore(stored.rkey, deps.policy.lookbackMs * 1000) ?? stored.rkey;
  // Just before the hinted key (undefined unless it is a TID, as event keys are).
  const hinted = hint === undefined ? undefined : tidBefore(hint, 1);
  if (hinted === undefined) return lookback;
  const start = hinted < stored.rkey ? hinted : stored.rkey;
  return start > lookback ? start : lookback;
}

/**
 * Reads a repo's cursor and asks for its first page. Only pollPeer writes a repo's cursor, and
 * polls run one at a time (the engine's queue), so a cursor read ahead is still current when
 * its repo's turn comes; the page is what a poll started a little earlier would have read.
 */
async function readHead(deps: DeliveryDeps, did: string, hint?: string): Promise<PeerHead> {
  const stored = await deps.store.getCursor(did);
  const after = startAfter(deps, stored, hint);
  const first = deps.publicRepos.listRecordsAfter(did, EVENT_COLLECTION_NSID, after, PAGE);
  // Rejections are handled where the page is awaited (pollPeer); this only keeps one that
  // outlives its poll (the poll failed on an earlier repo) from being reported as unhandled.
  first.catch(() => undefined);
  return { stored, after, first };
}

/** Events kept to try again: not readable yet, or a commit early for its epoch (§6.7). */
function waitsForLater(outcome: EventOutcome): outcome is Extract<EventOutcome, { kind: 'unrecognised' | 'early' }> {
  return outcome.kind === 'unrecognised' || outcome.kind === 'early';
}

/** Parked events a single repo may hold: one noisy peer cannot crowd out the others. */
const PENDING_PER_DID = 200;

/**
 * Only what could become readable is parked: a 16-byte tag and a sealed length (§6.2, §6.5),
 * within the per-repo bound. Everything else is passed over now.
 */
async function worthParking(deps: DeliveryDeps, event: IncomingEvent): Promise<boolean> {
  if (event.tag.length !== 16 || !isSealedLength(event.ciphertext.length)) return false;
  return (await deps.store.countPending(event.did)) < PENDING_PER_DID;
}

/**
 * Tries parked events again. Only those still unreadable are dropped: past their time, or the
 * oldest beyond the bound. (Trying first means a burst of noise cannot evict a good event that
 * has just become readable.)
 */
export async function retryPending(deps: DeliveryDeps, report: PollReport): Promise<boolean> {
  let epochsChanged = false;
  const now = deps.clock.now();
  const pending = (await deps.store.listPending()).sort((a, b) => a.firstSeenAt - b.firstSeenAt);
  const overflow = pending.length - deps.policy.pendingMax;
  for (const [i, event] of pending.entries()) {
    const result = await processEvent(deps, event, { notOurInvite: event.notOurInvite === true });
    if (waitsForLater(result.outcome)) {
      if (i < overflow || now - event.firstSeenAt > deps.policy.pendingTtlMs) {
        await deps.store.apply({ deletePending: [event.uri] });
      } else if (result.outcome.kind === 'unrecognised' && result.outcome.notOurInvite && !event.notOurInvite) {
        // Parked before events were marked: remembered now, so the next retry skips the invite key.
        await deps.store.apply({ putPending: [{ ...event, notOurInvite: true }] });
      }
      continue;
    }
    report.outcomes.push(result.outcome);
    epochsChanged ||= changedEpochs(result.outcome);
    await deps.store.apply({ ...result.changes, deletePending: [event.uri] });
  }
  return epochsChanged;
}

/**
 * One round of receiving: every peer's repo (the members of our groups and the given contacts,
 * for invites; or the `only` ones among them), then the parked events as long as epochs keep
 * changing. Each repo's events are processed in order, each with its cursor in one transaction;
 * the next repos' first pages are requested meanwhile (READ_AHEAD).
 */
export async function pollInbox(deps: DeliveryDeps, contacts: readonly string[] = [], options: PollOptions = {}): Promise<PollReport> {
  const report: PollReport = { processed: 0, outcomes: [], unreachable: [] };
  const startedAt = deps.clock.now();
  // Parked events get a try every round, not only after an epoch change seen in this worker's
  // life: a restart between a commit and the retry must not strand them.
  let epochsChanged = (await deps.store.countPending()) > 0;
  const groups = await deps.store.listGroups();
  const all = new Set<string>([deps.device.did, ...contacts, ...groups.flatMap((g) => g.memberDids)]);
  const only = options.only === undefined ? undefined : new Set(options.only);
  const dids = only ? [...all].filter((did) => only.has(did)) : [...all];
  const heads: Array<Promise<PeerHead> | undefined> = [];
  const readAhead = (i: number) => {
    if (i >= dids.length || heads[i]) return;
    const head = readHead(deps, dids[i]!, options.startAt?.get(dids[i]!));
    head.catch(() => undefined); // awaited (and its failure handled) in pollPeer
    heads[i] = head;
  };
  for (const [i, did] of dids.entries()) {
    for (let k = i; k < i + READ_AHEAD; k++) readAhead(k);
    try {
      epochsChanged = (await pollPeer(deps, did, report, heads[i])) || epochsChanged;
    } catch (error) {
      if (!isAtmError(error)) throw error;
      report.unreachable.push(did);
    } finally {
      heads[i] = undefined;
    }
  }
  // A complete read lets epochs become final (§6.7). Repos that failed do not hold it back (a
  // member could otherwise stall everyone's commits by making theirs unreadable), but our own
  // must have answered: a device that is offline has read nothing.
  if (!only && !report.unreachable.includes(deps.device.did)) deps.reads.completeReadStartedAt = startedAt;
  for (let round = 0; epochsChanged && round < 8; round++) {
    epochsChanged = await retryPending(deps, report);
  }
  return report;
}

export type { PendingEvent };
