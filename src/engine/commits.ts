import { toHex } from '../bytes';
import { AtmError, isAtmError } from '../errors';
import { decodeGroupState, members, processCommit, selfUpdate, type GroupState, type ProcessCommitResult } from '../mls';
import { isRefusal } from './mls-auth';
import { commitRank } from './commit-rank';
import { didsOf } from './create-group';
import { didOfIdentity } from '../protocol/device-uri';
import { consumeTag, type TagMatch } from '../protocol/tags';
import { TEXT_TYPE } from '../protocol/content';
import type { DeliveryDeps } from './delivery-deps';
import { messageKey, type ChangeSet, type CommitIntent, type EpochRecord, type GroupRecord, type OutboxItem } from './delivery-state';
import { enterEpoch, epochRecordFor, withEpochRecord } from './epochs';
import { encodeState, groupState, loadGroup, mayCommit, ownLeaf, sealOwnEvent, settleFinality } from './group-events';
import { sealContent, standsForConversation } from './send';

/** The group after our own commit on its current state: we become provisional winner (§6.7). */
export async function afterOwnCommit(
  deps: DeliveryDeps,
  group: GroupRecord,
  newState: GroupState,
  commit: Uint8Array,
  intent: CommitIntent,
  options: { pathUpdate: boolean; removed: number; added: number },
): Promise<{ group: GroupRecord; changes: ChangeSet }> {
  const state = groupState(deps, group);
  const sealed = await sealOwnEvent(deps, group.current, ownLeaf(state), commit);
  const sealedGroup = { ...group, current: sealed.current };
  const winnerRank = await commitRank({
    groupId: group.groupId,
    epoch: group.current.epoch,
    committerLeaf: ownLeaf(state),
    removed: options.removed,
    added: options.added,
    message: commit,
  });
  const next: GroupRecord = {
    ...sealedGroup,
    ...enterEpoch(sealedGroup, encodeState(newState), await epochRecordFor(deps.mls, newState), deps.policy.retainedEpochs),
    parent: { state: group.state, winnerRank, appliedAt: deps.clock.now(), readBefore: deps.reads.completeReadStartedAt, sentSince: [], intent },
    memberDids: didsOf(newState),
    ...(options.pathUpdate ? { lastPathUpdateAt: deps.clock.now(), sentSinceUpdate: 0 } : {}),
    updatedAt: deps.clock.now(),
  };
  return { group: next, changes: { putOutbox: [sealed.item] } };
}

/**
 * Our commit made on the parent's epoch (§6.7, a commit that outranks the winner so far, such
 * as a required removal while someone else's self-update waits to become final): we switch to
 * our own branch as a competitor would, and our messages of the branch we leave are sent again.
 */
export async function afterOwnCommitOnParent(
  deps: DeliveryDeps,
  group: GroupRecord & { parent: NonNullable<GroupRecord['parent']> },
  newState: GroupState,
  commit: Uint8Array,
  intent: CommitIntent,
  options: { pathUpdate: boolean; removed: number; added: number },
): Promise<{ group: GroupRecord; changes: ChangeSet }> {
  const now = deps.clock.now();
  const parentState = decodeGroupState(deps.mls, group.parent.state);
  const parentEpoch = (BigInt(group.current.epoch) - 1n).toString();
  const record = group.retained.find((r) => r.epoch === parentEpoch);
  if (!record) throw new AtmError('NotMember', "the parent epoch's keys are no longer kept", { groupId: group.groupId });
  const sealed = await sealOwnEvent(deps, record, ownLeaf(parentState), commit);
  const winnerRank = await commitRank({
    groupId: group.groupId,
    epoch: parentEpoch,
    committerLeaf: ownLeaf(parentState),
    removed: options.removed,
    added: options.added,
    message: commit,
  });
  const resend = [...(group.resendPending ?? []), ...group.parent.sentSince];
  let next: GroupRecord = {
    ...withEpochRecord(group, sealed.current),
    state: encodeState(newState),
    current: await epochRecordFor(deps.mls, newState),
    parent: { state: group.parent.state, winnerRank, appliedAt: now, readBefore: deps.reads.completeReadStartedAt, sentSince: [], intent },
    memberDids: didsOf(newState),
    ...(resend.length > 0 ? { resendPending: resend } : {}),
    ...(options.pathUpdate ? { lastPathUpdateAt: now, sentSinceUpdate: 0 } : {}),
    updatedAt: now,
  };
  // The winner we displace was our own commit: its intent is done again once final.
  if (group.parent.intent?.kind === 'update') next = { ...next, deferred: group.parent.intent };
  const resent = await resendPending(deps, next, newState);
  return { group: resent.group, changes: { putOutbox: [sealed.item, ...(resent.changes.putOutbox ?? [])] } };
}

/**
 * Commits a self-update (post-compromise security: a fresh leaf key and path secrets). While the
 * current epoch is not final the intent is deferred (§6.7) and `runDeferredCommits` does it later.
 */
export async function commitSelfUpdate(deps: DeliveryDeps, groupId: string): Promise<ChangeSet> {
  const group = await loadGroup(deps, groupId);
  if (!group.active) throw new AtmError('NotMember', 'this device was removed from the group', { groupId });
  const state = groupState(deps, group);
  // Not while the epoch is not final (§6.7), nor while someone who left still holds a leaf: the
  // membership review removes them first (§6.9), and the update follows.
  if (!mayCommit(deps, group) || !(await standsForConversation(deps, group, state))) {
    return { putGroups: [{ ...group, deferred: { kind: 'update' }, updatedAt: deps.clock.now() }] };
  }
  const result = await selfUpdate(deps.mls, state);
  const { deferred: _done, ...rest } = group;
  const after = await afterOwnCommit(deps, rest, result.newState, result.commit, { kind: 'update' }, {
    pathUpdate: true,
    removed: 0,
    added: 0,
  });
  return { ...after.changes, putGroups: [after.group] };
}

/**
 * Re-sends the messages `group.resendPending` names (ours, from a branch that lost, §6.7) on
 * the group's current state, with their ids, when that state may be sent to (§6.9); otherwise
 * they wait for a later round.
 */
export async function resendPending(
  deps: DeliveryDeps,
  group: GroupRecord,
  state: GroupState,
): Promise<{ group: GroupRecord; changes: ChangeSet }> {
  const ids = group.resendPending ?? [];
  if (ids.length === 0 || !group.active || !(await standsForConversation(deps, group, state, { fresh: true }))) {
    return { group, changes: {} };
  }
  const { resendPending: _done, ...rest } = group;
  let next: GroupRecord = rest;
  const putOutbox: OutboxItem[] = [];
  for (const id of ids) {
    const original = await deps.store.getMessage(group.groupId, messageKey(id, deps.device.uri));
    if (!original || !original.own) continue;
    const resent = await sealContent(deps, next, decodeGroupState(deps.mls, next.state), {
      $type: TEXT_TYPE,
      id,
      text: original.text,
      sentAt: original.sentAt,
    });
    next = resent.group;
    putOutbox.push(...(resent.changes.putOutbox ?? []));
  }
  return { group: next, changes: { putOutbox } };
}

/** Drops parents whose window has passed and makes the commits that were waiting for that. */
export async function runDeferredCommits(deps: DeliveryDeps): Promise<ChangeSet[]> {
  const out: ChangeSet[] = [];
  const now = deps.clock.now();
  for (const stored of await deps.store.listGroups()) {
    const group = settleFinality(deps, stored);
    const may = mayCommit(deps, group);
    if ((group.deferred?.kind === 'add' || group.deferred?.kind === 'members') && may) {
      // Adds are not replayed: maintenance adds whichever devices are still missing.
      const { deferred: _done, ...rest } = group;
      out.push({ putGroups: [rest] });
    } else if (group.deferred && may && group.active) {
      out.push(await commitSelfUpdate(deps, group.groupId));
    } else if (group.resendPending?.length) {
      const resent = await resendPending(deps, group, groupState(deps, group));
      if (resent.group !== group || group !== stored) out.push({ ...resent.changes, putGroups: [resent.group] });
    } else if (group !== stored) {
      out.push({ putGroups: [group] }); // the parent's secrets go now, not at the next event
    }
  }
  return out;
}

/**
 * §6.7: a commit changes who holds the group's keys, so the devices it relies on, its committer
 * (with the leaf it commits) and every device it adds, are proven afresh by their owners' repos,
 * never from a cached answer: a device revoked a minute ago must not commit or be added. A
 * refusal rejects the commit; a network failure leaves it to be read again.
 */
export async function proveCommitDevices(deps: Pick<DeliveryDeps, 'as'>, result: ProcessCommitResult): Promise<void> {
  const committerLeaf = members(result.newState).find((m) => m.leafIndex === result.committer.leafIndex);
  const devices = [result.committer, ...(committerLeaf ? [committerLeaf] : []), ...result.added];
  const seen = new Set<string>();
  for (const device of devices) {
    const key = `${device.identity} ${toHex(device.signaturePublicKey)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      await deps.as.verify(device.identity, device.signaturePublicKey, { fresh: true });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      throw new AtmError('UntrustedCredential', "a device of the commit is not proven by its owner's repo", {
        identity: device.identity,
        leafIndex: device.leafIndex,
      }, { cause: error });
    }
  }
}

/**
 * §6.7: in a group that stands for a conversation, a commit counts only if its committer is in
 * the conversation, as the chat service says now (not from a cache): someone who left or was
 * removed still holds the epoch's keys, and must not make the commit every member follows.
 * A chat service that cannot answer decides nothing: the commit is read again later.
 */
async function requireCommitterInConversation(
  deps: Pick<DeliveryDeps, 'conversationDids'>,
  group: GroupRecord,
  result: ProcessCommitResult,
): Promise<void> {
  if (!group.convoId || !deps.conversationDids) return;
  let people: readonly string[];
  try {
    people = await deps.conversationDids(group.convoId, { fresh: true });
  } catch (error) {
    // Out of the conversation ourselves, we cannot ask: our own removal is taken (it only stops
    // us sending); anything else is not followed.
    if (isAtmError(error, 'RemoteRefused')) {
      if (result.removedSelf) return;
      throw new AtmError('NotMember', 'this device is not in the conversation any more', { convoId: group.convoId }, { cause: error });
    }
    throw new AtmError('Network', 'could not ask the chat service who is in the conversation', { convoId: group.convoId }, { cause: error });
  }
  const committer = didOfIdentity(result.committer.identity);
  if (!committer || !people.includes(committer)) {
    throw new AtmError('NotMember', 'the committer is not in the conversation', { leafIndex: result.committer.leafIndex });
  }
}

export type CommitOutcome = 'applied' | 'switched' | 'ignored' | 'early';

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
  const now = deps.clock.now();
  const rankOf = (result: ProcessCommitResult) =>
    commitRank({
      groupId: group.groupId,
      epoch: record.epoch,
      committerLeaf: result.committer.leafIndex,
      removed: result.removed.length,
      added: result.added.length,
      message,
    });
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
    // Our current epoch is not final yet: nobody honest commits on it (rule 4), and applying
    // this would make the epoch before it final early, so that a better commit for that one
    // could no longer be taken. Kept, and applied once our epoch is final.
    if (group.parent) return { group, changes: {}, outcome: 'early' };
    const result = await processCommit(deps.mls, groupState(deps, group), message);
    authenticate(result.committer);
    await requireCommitterInConversation(deps, group, result);
    await proveCommitDevices(deps, result);
    const marked = await spend();
    const next: GroupRecord = {
      ...marked,
      ...enterEpoch(marked, encodeState(result.newState), await epochRecordFor(deps.mls, result.newState), deps.policy.retainedEpochs),
      parent: {
        state: group.state,
        winnerRank: await rankOf(result),
        appliedAt: now,
        readBefore: deps.reads.completeReadStartedAt,
        sentSince: [],
      },
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
  const rank = await rankOf(result);
  if (rank >= group.parent.winnerRank) return { group: await spend(), changes: {}, outcome: 'ignored' };
  await requireCommitterInConversation(deps, group, result);
  await proveCommitDevices(deps, result);
  const marked = await spend();
  // It ranks below the winner so far: the branch we are on loses.
  let next: GroupRecord = {
    ...marked,
    state: encodeState(result.newState),
    current: await epochRecordFor(deps.mls, result.newState),
    parent: { state: group.parent.state, winnerRank: rank, appliedAt: now, readBefore: deps.reads.completeReadStartedAt, sentSince: [] },
    memberDids: didsOf(result.newState),
    active: !result.removedSelf,
    updatedAt: now,
  };
  // Our messages of the losing branch go out again on the winner, with the same ids; if the
  // winner still holds someone who left the conversation, once their removal is committed.
  const resend = [...(group.resendPending ?? []), ...group.parent.sentSince];
  if (resend.length > 0) next = { ...next, resendPending: resend };
  const { group: resent, changes } = await resendPending(deps, next, result.newState);
  next = resent;
  // Our own commit lost: do it again on the winning branch once its epoch is final (committing
  // on top of it now would make this epoch final for us before a still-better commit arrives).
  if (group.parent.intent) next = { ...next, deferred: group.parent.intent };
  return { group: next, changes, outcome: 'switched' };
}
