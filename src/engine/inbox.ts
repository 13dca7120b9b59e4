import { isAtmError } from '../errors';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord, type EventRecord } from '../protocol/records';
import { blobOrSkip } from './event-bytes';
import { isSealedLength } from '../protocol/padding';
import type { DeliveryDeps } from './delivery-deps';
import { tidBefore } from './tid';
import type { ChangeSet, PendingEvent } from './delivery-state';
import { processEvent, type EventOutcome, type IncomingEvent } from './receive';

const PAGE = 50;

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
export async function pollPeer(deps: DeliveryDeps, did: string, report: PollReport): Promise<boolean> {
  let epochsChanged = false;
  const stored = await deps.store.getCursor(did);
  // Look back: a record can be published after records with newer keys were read.
  const lookbackMicros = deps.policy.lookbackMs * 1000;
  let highest = stored?.rkey;
  let recent = new Set(stored?.recent ?? []);
  let after = stored ? (tidBefore(stored.rkey, lookbackMicros) ?? stored.rkey) : undefined;
  let limit = PAGE;
  for (;;) {
    let page: Awaited<ReturnType<DeliveryDeps['publicRepos']['listRecordsAfter']>>;
    try {
      page = await deps.publicRepos.listRecordsAfter(did, EVENT_COLLECTION_NSID, after, limit);
    } catch (error) {
      // A page of large events (e.g. the invites of a big add, up to 64 KiB each) can exceed the
      // response cap: ask for fewer records instead of stalling on this repo.
      if (isAtmError(error, 'PayloadTooLarge') && limit > 1) {
        limit = Math.max(1, Math.floor(limit / 4));
        continue;
      }
      throw error;
    }
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
        if (result.outcome.kind === 'unrecognised' && (await worthParking(deps, event))) {
          changes = { ...changes, putPending: [{ ...event, firstSeenAt: deps.clock.now() }] };
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
    const result = await processEvent(deps, event);
    if (result.outcome.kind === 'unrecognised') {
      if (i < overflow || now - event.firstSeenAt > deps.policy.pendingTtlMs) {
        await deps.store.apply({ deletePending: [event.uri] });
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
 * for invites), then the parked events as long as epochs keep changing.
 */
export async function pollInbox(deps: DeliveryDeps, contacts: readonly string[] = []): Promise<PollReport> {
  const report: PollReport = { processed: 0, outcomes: [], unreachable: [] };
  // Parked events get a try every round, not only after an epoch change seen in this worker's
  // life: a restart between a commit and the retry must not strand them.
  let epochsChanged = (await deps.store.countPending()) > 0;
  const groups = await deps.store.listGroups();
  const dids = new Set<string>([deps.device.did, ...contacts, ...groups.flatMap((g) => g.memberDids)]);
  for (const did of dids) {
    try {
      epochsChanged = (await pollPeer(deps, did, report)) || epochsChanged;
    } catch (error) {
      if (!isAtmError(error)) throw error;
      report.unreachable.push(did);
    }
  }
  for (let round = 0; epochsChanged && round < 8; round++) {
    epochsChanged = await retryPending(deps, report);
  }
  return report;
}

export type { PendingEvent };
