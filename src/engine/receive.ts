import { fromHex } from '../bytes';
import { AtmError, isAtmError, type AtmErrorCode } from '../errors';
import { decryptApplicationMessage, epoch, ownLeafIndex, type WelcomeSummary } from '../mls';
import { decodeContent } from '../protocol/content';
import { didOfIdentity } from '../protocol/device-uri';
import { openEventMessage } from '../protocol/envelope';
import { openInviteBundle, tryOpenInvite } from '../protocol/invite';
import { eventByRkey } from './event-bytes';
import { consumeTag, matchTag, type TagMatch } from '../protocol/tags';
import { receiveCommit } from './commits';
import { newGroupRecord } from './create-group';
import type { DeliveryDeps } from './delivery-deps';
import { messageKey, type ChangeSet, type EpochRecord, type GroupRecord, type MessageRecord } from './delivery-state';
import { withEpochRecord } from './epochs';
import { encodeState, groupState, settleFinality } from './group-events';
import { joinFromWelcome } from './groups';

/** One event as read from a repo: the record's tag and its (downloaded) sealed bytes. */
export interface IncomingEvent {
  uri: string;
  did: string;
  rkey: string;
  tag: Uint8Array;
  ciphertext: Uint8Array;
}

export type EventOutcome =
  | { kind: 'message'; groupId: string; message: MessageRecord }
  | { kind: 'duplicate'; groupId: string }
  | { kind: 'commit'; groupId: string; result: 'applied' | 'switched' | 'ignored' }
  /** A commit for an epoch that is not final for us yet (§6.7): parked, applied later. */
  | { kind: 'early'; groupId: string }
  | { kind: 'own'; groupId: string }
  | { kind: 'joined'; groupId: string }
  /** `notOurInvite`: it was tried as an invite to us, and is not one. */
  | { kind: 'unrecognised'; notOurInvite?: boolean }
  | { kind: 'rejected'; code: AtmErrorCode | 'Unknown'; groupId?: string };

/** Errors that say "not now" rather than "never": the event is kept and tried again. */
const RETRY_LATER: ReadonlySet<AtmErrorCode> = new Set(['Network', 'Timeout', 'Storage']);

/** A local store failure is ours, not the event's: typed so the event is retried, not rejected. */
async function stored<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (isAtmError(error)) throw error;
    throw new AtmError('Storage', 'local storage failed', { name: (error as Error)?.name }, { cause: error });
  }
}

function findMatch(groups: GroupRecord[], tag: Uint8Array): { group: GroupRecord; record: EpochRecord; match: TagMatch } | undefined {
  for (const group of groups) {
    for (const record of [group.current, ...group.retained]) {
      const match = matchTag(record.tags, tag);
      if (match) return { group, record, match };
    }
  }
  return undefined;
}

/**
 * Processes one event (docs/protocol.md §6, §7). Returns the changes to store atomically with
 * the reader's cursor; nothing is written here. Bad input is `rejected` with its code and
 * changes nothing; a network failure throws so the cursor does not move past the event.
 */
export async function processEvent(
  deps: DeliveryDeps,
  event: IncomingEvent,
  options: { notOurInvite?: boolean } = {},
): Promise<{ changes: ChangeSet; outcome: EventOutcome }> {
  const now = deps.clock.now();
  const groups = (await deps.store.listGroups()).map((g) => settleFinality(deps, g));
  const found = findMatch(groups, event.tag);
  try {
    if (found) return await processMatched(deps, found.group, found.record, found.match, event);
    if (options.notOurInvite) return { changes: {}, outcome: { kind: 'unrecognised', notOurInvite: true } };
    const invite = await tryOpenInvite(deps.device.invite.privateKey, event.tag, event.ciphertext);
    if (invite?.kind === 'direct') return await processInvite(deps, invite.welcome, invite.ratchetTree, event.did);
    if (invite?.kind === 'bundle') {
      // §6.6: the Welcome and tree are sealed once for every device of the add, in the
      // inviter's repo (published before the invites). Not there yet: parked and tried again.
      const bundle = await eventByRkey(deps, event.did, invite.rkey);
      if (!bundle) return { changes: {}, outcome: { kind: 'unrecognised' } };
      const opened = await openInviteBundle(invite.key, bundle.tag, bundle.ciphertext);
      return await processInvite(deps, opened.welcome, opened.ratchetTree, event.did);
    }
    return { changes: {}, outcome: { kind: 'unrecognised', notOurInvite: invite === undefined } };
  } catch (error) {
    if (isAtmError(error) && RETRY_LATER.has(error.code)) throw error;
    return {
      changes: {},
      outcome: { kind: 'rejected', code: isAtmError(error) ? error.code : 'Unknown', groupId: found?.group.groupId },
    };
  }
}

async function processMatched(
  deps: DeliveryDeps,
  group: GroupRecord,
  record: EpochRecord,
  match: TagMatch,
  event: IncomingEvent,
): Promise<{ changes: ChangeSet; outcome: EventOutcome }> {
  const opened = await openEventMessage(
    { envelopeKey: record.envelopeKey, groupId: fromHex(group.groupId), epoch: BigInt(record.epoch) },
    event.tag,
    event.ciphertext,
  );
  const state = groupState(deps, group);
  if (match.leaf === ownLeafIndex(state)) {
    if (event.did !== deps.device.did) {
      throw new AtmError('MlsRejected', 'our own event found in another repo', { repo: event.did });
    }
    // Our own event, read back from our repo (or copied elsewhere): nothing to apply.
    const tags = await consumeTag(record.tagKey, record.tags, match);
    return {
      changes: { putGroups: [withEpochRecord(group, { ...record, tags })] },
      outcome: { kind: 'own', groupId: group.groupId },
    };
  }
  if (opened.contentType === 'commit') {
    const result = await receiveCommit(deps, group, record, match, opened.message, event.did);
    if (result.outcome === 'early') return { changes: {}, outcome: { kind: 'early', groupId: group.groupId } };
    return {
      changes: { ...result.changes, putGroups: [result.group] },
      outcome: { kind: 'commit', groupId: group.groupId, result: result.outcome },
    };
  }
  if (opened.contentType !== 'application') {
    throw new AtmError('UnexpectedMessage', 'protocol v1 sends no standalone proposals');
  }
  const decrypted = await decryptApplicationMessage(deps.mls, state, opened.message);
  if (decrypted.sender.leafIndex !== match.leaf) {
    throw new AtmError('MlsRejected', 'message sender differs from its tag', { leaf: match.leaf });
  }
  // An event counts only from its author's own repo: a copy elsewhere (read first) could
  // otherwise spend the author's counters and push their real events out of the window.
  if (didOfIdentity(decrypted.sender.identity) !== event.did) {
    throw new AtmError('MlsRejected', 'event found outside its author\'s repo', { repo: event.did });
  }
  const content = decodeContent(decrypted.plaintext);
  const tags = await consumeTag(record.tagKey, record.tags, match);
  const next: GroupRecord = {
    ...withEpochRecord(group, { ...record, tags }),
    state: encodeState(decrypted.newState),
    updatedAt: deps.clock.now(),
  };
  const key = messageKey(content.id, decrypted.sender.identity);
  if (await stored(() => deps.store.getMessage(group.groupId, key))) {
    return { changes: { putGroups: [next] }, outcome: { kind: 'duplicate', groupId: group.groupId } };
  }
  const message: MessageRecord = {
    groupId: group.groupId,
    id: key,
    contentId: content.id,
    senderUri: decrypted.sender.identity,
    text: content.text,
    sentAt: content.sentAt,
    receivedAt: deps.clock.now(),
    own: false,
    status: 'sent',
  };
  return {
    changes: { putGroups: [next], putMessages: [message] },
    outcome: { kind: 'message', groupId: group.groupId, message },
  };
}

/**
 * The newest epoch this device knows the group reached. A removed device keeps the state of the
 * epoch its removal was committed on (E), and the removal made epoch E + 1.
 */
function epochReached(group: GroupRecord): bigint {
  const current = BigInt(group.current.epoch);
  return group.active ? current : current + 1n;
}

/**
 * §6.6: an invite is taken only for a group that names a conversation both we and the inviter
 * (whose repo holds the invite) are in, as the chat service says now. Anyone else could enrol
 * this device into groups it would then prove, poll and maintain, spending other people's key
 * packages. A device that knows no conversations (no chat service: tools, tests) takes any.
 * The chat service not answering decides nothing (the invite is read again later); it refusing
 * us the conversation is a refusal.
 */
async function admitInvite(deps: DeliveryDeps, summary: WelcomeSummary, inviter: string): Promise<void> {
  if (!deps.conversationDids) return;
  if (!summary.conversation) {
    throw new AtmError('NotMember', 'the invite is for a group that stands for no conversation', { inviter });
  }
  let people: readonly string[];
  try {
    people = await deps.conversationDids(summary.conversation, { fresh: true });
  } catch (error) {
    if (isAtmError(error, 'RemoteRefused')) {
      throw new AtmError('NotMember', 'the invite is for a conversation we are not in', { inviter }, { cause: error });
    }
    throw new AtmError('Network', 'could not ask the chat service who is in the conversation', { inviter }, { cause: error });
  }
  if (!people.includes(deps.device.did) || !people.includes(inviter)) {
    throw new AtmError('NotMember', 'the inviter and this device do not share that conversation', { inviter });
  }
}

async function processInvite(
  deps: DeliveryDeps,
  welcome: Uint8Array,
  ratchetTree: Uint8Array,
  inviter: string,
): Promise<{ changes: ChangeSet; outcome: EventOutcome }> {
  let groupId = '';
  await joinFromWelcome(
    { ...deps, usedWelcome: (id) => stored(() => deps.store.isWelcomeUsed(id)) },
    welcome,
    ratchetTree,
    async (state, welcomeId, joined) => {
      const fresh = await newGroupRecord(deps, state, undefined, 'joined');
      groupId = fresh.groupId;
      const existing = await stored(() => deps.store.getGroup(fresh.groupId));
      // Already a member (e.g. through another Welcome): never roll the group back. Once removed,
      // being invited again is a new membership (a new leaf and key package, so no key reuse);
      // the history stays, since messages are stored by group. But never at an epoch at or
      // below one this device was already in: whoever held that epoch's secrets (the inviter
      // among them) could re-invite a removed device into the past, with a new Welcome.
      if (existing?.active) {
        throw new AtmError('WelcomeReplayed', 'already a member of this group', { groupId });
      }
      if (existing && epoch(state) <= epochReached(existing)) {
        throw new AtmError('WelcomeReplayed', 'this device already saw this group at this epoch or a later one', {
          groupId,
          epoch: epoch(state).toString(),
          reached: epochReached(existing).toString(),
        });
      }
      // createdAt is now also for a renewed membership: what was sent while removed is unreadable.
      const group: GroupRecord = {
        ...fresh,
        lastPathUpdateAt: deps.clock.now(),
        // §6.10: a last-resort key package may have been used by others too, and stays
        // published: refresh our leaf's keys at once.
        ...(joined.lastResort ? { deferred: { kind: 'update' } as const } : {}),
      };
      await stored(() => deps.store.apply({ putGroups: [group], addWelcomes: [welcomeId] }));
    },
    (summary) => admitInvite(deps, summary, inviter),
  );
  return { changes: {}, outcome: { kind: 'joined', groupId } };
}
