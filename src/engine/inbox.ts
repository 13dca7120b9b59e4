import { isAtmError } from '../errors';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord, type EventRecord } from '../protocol/records';
import type { DeliveryDeps } from './delivery-deps';
import type { ChangeSet, PendingEvent } from './delivery-state';
import { processEvent, type EventOutcome, type IncomingEvent } from './receive';

const PAGE = 50;

export interface PollReport {
  processed: number;
  outcomes: EventOutcome[];
  /** DIDs whose repo could not be read this time (their cursor did not move). */
  unreachable: string[];
}

/** The sealed bytes of an event: inline, or its blob fetched and checked against its CID. */
async function sealedBytes(deps: DeliveryDeps, did: string, record: EventRecord): Promise<Uint8Array | undefined> {
  if (record.ciphertext) return record.ciphertext;
  const ref = record.blob as { ref?: { toString(): string } } | undefined;
  const cid = ref?.ref?.toString();
  return cid ? deps.publicRepos.getBlob(did, cid) : undefined;
}

/**
 * A blob that cannot be had for good (the author's PDS refuses, or it does not match its CID)
 * makes the event unreadable: it is passed over rather than stalling this repo forever. A
 * network failure is rethrown: the cursor stays and the event is read again later.
 */
async function blobOrSkip(deps: DeliveryDeps, did: string, record: EventRecord): Promise<Uint8Array | undefined> {
  try {
    return await sealedBytes(deps, did, record);
  } catch (error) {
    if (isAtmError(error) && error.code !== 'Network' && error.code !== 'Timeout') return undefined;
    throw error;
  }
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
  let after = (await deps.store.getCursor(did))?.rkey;
  for (;;) {
    const page = await deps.publicRepos.listRecordsAfter(did, EVENT_COLLECTION_NSID, after, PAGE);
    for (const record of page.records) {
      const cursor = { did, rkey: record.rkey, updatedAt: deps.clock.now() };
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
        if (result.outcome.kind === 'unrecognised') {
          changes = { ...changes, putPending: [{ ...event, firstSeenAt: deps.clock.now() }] };
        }
        epochsChanged ||= changedEpochs(result.outcome);
      }
      await deps.store.apply({ ...changes, putCursors: [cursor] });
      report.processed++;
      after = record.rkey;
    }
    if (!page.cursor || page.records.length === 0) break;
  }
  return epochsChanged;
}

/** Tries parked events again; drops those past their time or beyond the bound. */
export async function retryPending(deps: DeliveryDeps, report: PollReport): Promise<boolean> {
  let epochsChanged = false;
  const now = deps.clock.now();
  const pending = (await deps.store.listPending()).sort((a, b) => a.firstSeenAt - b.firstSeenAt);
  const overflow = pending.length - deps.policy.pendingMax;
  for (const [i, event] of pending.entries()) {
    if (i < overflow || now - event.firstSeenAt > deps.policy.pendingTtlMs) {
      await deps.store.apply({ deletePending: [event.uri] });
      continue;
    }
    const result = await processEvent(deps, event);
    if (result.outcome.kind === 'unrecognised') continue;
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
  const groups = await deps.store.listGroups();
  const dids = new Set<string>([deps.device.did, ...contacts, ...groups.flatMap((g) => g.memberDids)]);
  let epochsChanged = false;
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
