import { toHex } from '../bytes';
import { AtmError } from '../errors';
import { decodeGroupState, processCommit, selfUpdate, type GroupState } from '../mls';
import { didsOf } from './create-group';
import { didOfIdentity } from '../protocol/device-uri';
import { consumeTag, type TagMatch } from '../protocol/tags';
import { TEXT_TYPE } from '../protocol/content';
import type { DeliveryDeps } from './delivery-deps';
import { messageKey, type ChangeSet, type CommitIntent, type EpochRecord, type GroupRecord } from './delivery-state';
import { enterEpoch, epochRecordFor, withEpochRecord } from './epochs';
import { encodeState, groupState, loadGroup, ownLeaf, sealOwnEvent, settleFinality } from './group-events';
import { sealContent } from './send';

/** §6.7: a commit's rank is the SHA-256 of its MLSMessage bytes; the smallest rank wins. */
export async function commitRank(message: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', message as Uint8Array<ArrayBuffer>)));
}


/** The group after our own commit on its current state: we become provisional winner (§6.7). */
export async function afterOwnCommit(
  deps: DeliveryDeps,
  group: GroupRecord,
  newState: GroupState,
  commit: Uint8Array,
  intent: CommitIntent,
  options: { pathUpdate: boolean },
): Promise<{ group: GroupRecord; changes: ChangeSet }> {
  const state = groupState(deps, group);
  const sealed = await sealOwnEvent(deps, group.current, ownLeaf(state), commit);
  const sealedGroup = { ...group, current: sealed.current };
  const next: GroupRecord = {
    ...sealedGroup,
    ...enterEpoch(sealedGroup, encodeState(newState), await epochRecordFor(deps.mls, newState), deps.policy.retainedEpochs),
    parent: { state: group.state, winnerRank: await commitRank(commit), appliedAt: deps.clock.now(), sentSince: [], intent },
    memberDids: didsOf(newState),
    ...(options.pathUpdate ? { lastPathUpdateAt: deps.clock.now(), sentSinceUpdate: 0 } : {}),
    updatedAt: deps.clock.now(),
  };
  return { group: next, changes: { putOutbox: [sealed.item] } };
}

/**
 * Commits a self-update (post-compromise security: a fresh leaf key and path secrets). While the
 * current epoch is not final the intent is deferred (§6.7) and `runDeferredCommits` does it later.
 */
export async function commitSelfUpdate(deps: DeliveryDeps, groupId: string): Promise<ChangeSet> {
  const group = await loadGroup(deps, groupId);
  if (!group.active) throw new AtmError('NotMember', 'this device was removed from the group', { groupId });
  if (group.parent) return { putGroups: [{ ...group, deferred: { kind: 'update' }, updatedAt: deps.clock.now() }] };
  const result = await selfUpdate(deps.mls, groupState(deps, group));
  const { deferred: _done, ...rest } = group;
  const after = await afterOwnCommit(deps, rest, result.newState, result.commit, { kind: 'update' }, { pathUpdate: true });
  return { ...after.changes, putGroups: [after.group] };
}

/** Drops parents whose window has passed and makes the commits that were waiting for that. */
export async function runDeferredCommits(deps: DeliveryDeps): Promise<ChangeSet[]> {
  const out: ChangeSet[] = [];
  const now = deps.clock.now();
  for (const stored of await deps.store.listGroups()) {
    const group = settleFinality(stored, now, deps.policy.finalityMs);
    if ((group.deferred?.kind === 'add' || group.deferred?.kind === 'members') && !group.parent) {
      // Adds are not replayed: maintenance adds whichever devices are still missing.
      const { deferred: _done, ...rest } = group;
      out.push({ putGroups: [rest] });
    } else if (group.deferred && !group.parent && group.active) {
      out.push(await commitSelfUpdate(deps, group.groupId));
    } else if (group !== stored) {
      out.push({ putGroups: [group] }); // the parent's secrets go now, not at the next event
    }
  }
  return out;
}

export type CommitOutcome = 'applied' | 'switched' | 'ignored';

/**
 * A commit of another member, matched by tag in epoch record `record` (docs/protocol.md §6.7):
 * - for our current epoch: applied on top of our state; our previous parent becomes final;
 * - for the parent's epoch, while not final: a competitor. If it ranks below the winner so far,
 *   we switch to it: re-apply it on the parent, re-send our messages of the losing branch, and
 *   redo our own commit's intent if the loser was ours;
 * - anything else is stale and ignored.
 */
export async function receiveCommit(
  deps: DeliveryDeps,
  group: GroupRecord,
  record: EpochRecord,
  match: TagMatch,
  message: Uint8Array,
  repoDid: string,
): Promise<{ group: GroupRecord; changes: ChangeSet; outcome: CommitOutcome }> {
  const rank = await commitRank(message);
  const now = deps.clock.now();
  // The tag's counter is spent only once MLS authenticated the committer as the tag's leaf
  // (§6.3): any member can seal junk under another member's tags.
  const spend = async () =>
    withEpochRecord(group, { ...record, tags: await consumeTag(record.tagKey, record.tags, match) });
  const authenticate = (committer: { leafIndex: number; identity: string }) => {
    if (committer.leafIndex !== match.leaf) {
      throw new AtmError('MlsRejected', 'commit sender differs from its tag', { leaf: match.leaf });
    }
    if (didOfIdentity(committer.identity) !== repoDid) {
      throw new AtmError('MlsRejected', "commit found outside its author's repo", { repo: repoDid });
    }
  };

  if (record.epoch === group.current.epoch) {
    const result = await processCommit(deps.mls, groupState(deps, group), message);
    authenticate(result.committer);
    const marked = await spend();
    const next: GroupRecord = {
      ...marked,
      ...enterEpoch(marked, encodeState(result.newState), await epochRecordFor(deps.mls, result.newState), deps.policy.retainedEpochs),
      parent: { state: group.state, winnerRank: rank, appliedAt: now, sentSince: [] },
      memberDids: didsOf(result.newState),
      active: !result.removedSelf,
      updatedAt: now,
    };
    return { group: next, changes: {}, outcome: 'applied' };
  }

  const parentEpoch = (BigInt(group.current.epoch) - 1n).toString();
  if (!group.parent || record.epoch !== parentEpoch) {
    // Stale: nothing to authenticate it against any more, so nothing is spent or changed.
    return { group, changes: {}, outcome: 'ignored' };
  }
  // A competitor for the parent's epoch: authenticated on the parent whatever its rank.
  const parentState = decodeGroupState(deps.mls, group.parent.state);
  const result = await processCommit(deps.mls, parentState, message);
  authenticate(result.committer);
  const marked = await spend();
  if (rank >= group.parent.winnerRank) return { group: marked, changes: {}, outcome: 'ignored' };
  // It ranks below the winner so far: the branch we are on loses.
  let next: GroupRecord = {
    ...marked,
    state: encodeState(result.newState),
    current: await epochRecordFor(deps.mls, result.newState),
    parent: { state: group.parent.state, winnerRank: rank, appliedAt: now, sentSince: [] },
    memberDids: didsOf(result.newState),
    active: !result.removedSelf,
    updatedAt: now,
  };
  const changes: ChangeSet = { putOutbox: [] };
  // Our messages of the losing branch go out again on the winner, with the same ids.
  if (next.active) {
    for (const id of group.parent.sentSince) {
      const original = await deps.store.getMessage(group.groupId, messageKey(id, deps.device.uri));
      if (!original || !original.own) continue;
      const resent = await sealContent(deps, next, decodeGroupState(deps.mls, next.state), {
        $type: TEXT_TYPE,
        id,
        text: original.text,
        sentAt: original.sentAt,
      });
      next = resent.group;
      changes.putOutbox!.push(...(resent.changes.putOutbox ?? []));
    }
  }
  // Our own commit lost: do it again on the winning branch once its epoch is final (committing
  // on top of it now would make this epoch final for us before a still-better commit arrives).
  if (group.parent.intent) next = { ...next, deferred: group.parent.intent };
  return { group: next, changes, outcome: 'switched' };
}
