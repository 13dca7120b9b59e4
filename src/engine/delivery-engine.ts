import { commitSelfUpdate, runDeferredCommits } from './commits';
import { createGroupForDids } from './create-group';
import { newReadLog, type DeliveryDeps } from './delivery-deps';
import type { ChangeSet, GroupRecord, MessageRecord } from './delivery-state';
import { pollInbox, type PollOptions, type PollReport } from './inbox';
import { flushOutbox, retryOutboxItem, type FlushReport, type RetryPolicy } from './outbox';
import { conversationStanding, sendText } from './send';
import { conversationGroup, conversationMessages, resolveConversationGroups, sendToConversation } from './convo-groups';
import { deleteExpiredEvents } from './retention';
import { leaveGroupsOfLeftConversations } from './leave';
import { replenishKeyPackages } from './key-package-pool';
import { commitMembership, reviewMembership, turnDelayMs, type DeviceListing, type MembershipChange, type ReviewOptions } from './membership';
import { selfUpdateDue } from './self-update-schedule';
import { finalityReadDueAt, groupState, mayCommit, settleFinality } from './group-events';
import { addsNobody, changesNoMembers } from './commit-rank';
import { didsOf } from './create-group';
import { decodeGroupState, members } from '../mls';
import { toHex } from '../bytes';
import { DEVICE_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID } from '../protocol/records';
import { createSerialQueue } from './serial';
import { tidTimeMs } from './tid';
import type { AuthenticationService } from './authentication-service';

/** How often maintenance reconciles the key-package pool with the repo (a listing each time). */
const REPLENISH_EVERY_MS = 30 * 60_000;

export interface DeliveryEngine {
  createGroup(dids: readonly string[], convoId?: string): Promise<GroupRecord>;
  /** Sends to a conversation's encrypted group (the winning one if there are several, §6.8). */
  sendToConversation(convoId: string, text: string): Promise<MessageRecord>;
  conversationMessages(convoId: string): Promise<MessageRecord[]>;
  conversationGroup(convoId: string): Promise<GroupRecord | undefined>;
  sendText(groupId: string, text: string): Promise<MessageRecord>;
  selfUpdate(groupId: string): Promise<void>;
  /**
   * Periodic work: finalises epochs whose window passed and makes the commits that waited for
   * that; keeps each group's members equal to its people's devices (§6.9); self-updates on
   * schedule (§6.10); deletes our events past the retention period; tops up key packages.
   */
  maintain(): Promise<void>;
  /** Publishes what the outbox holds (in order, with retries). */
  flush(): Promise<FlushReport>;
  /**
   * Reads new events from peers' repos (and `contacts`, for invites) and applies them;
   * `options.only` narrows the round to some of those repos (a firehose wake-up).
   */
  poll(contacts?: readonly string[], options?: PollOptions): Promise<PollReport>;
  retry(rkey: string): Promise<boolean>;
  /** Retries the outbox write that delivers a message (the panel's Retry button). */
  retryMessage(groupId: string, messageId: string): Promise<boolean>;
  /**
   * A hint (e.g. from the firehose, unauthenticated) that a repo changed these collections
   * (undefined: anything). Device and key-package changes get the DID's groups reviewed at the
   * next maintenance instead of at the next scheduled review.
   */
  noteRepoChanged(did: string, collections?: readonly string[]): void;
  /** When the earliest membership change waiting for this device's turn comes due (§6.9). */
  nextDueAt?(): number | undefined;
  groups(): Promise<GroupRecord[]>;
  /** The MLS context (to read a stored group state's members). */
  mlsContext(): DeliveryDeps['mls'];
  messages(groupId: string): Promise<MessageRecord[]>;
}

/**
 * The device's delivery use cases, one at a time (see serial.ts): each computes a ChangeSet
 * from stored state and stores it in one transaction before anything leaves the device.
 */
export function createDeliveryEngine(
  shell: Omit<DeliveryDeps, 'reads'> & { as: AuthenticationService; retryPolicy?: RetryPolicy },
): DeliveryEngine {
  const deps = { ...shell, reads: newReadLog() };
  const queue = createSerialQueue();
  let lastReplenish = Number.NEGATIVE_INFINITY;
  const apply = (changes: ChangeSet) => deps.store.apply(changes);
  // Membership upkeep (§6.9), in memory: a restart only means reviewing a little sooner and
  // waiting a turn a little longer.
  const lastReview = new Map<string, number>();
  const lastPreemptReview = new Map<string, number>();
  const hinted = new Set<string>();
  /** `${groupId} ${change.key}` → when this device first saw the change still to be made. */
  const noticed = new Map<string, number>();
  const waiting = new Set<string>();
  /** groupId → when its earliest waiting change comes due for this device. */
  const dueAt = new Map<string, number>();
  /** Groups a send found waiting for someone's removal (§6.9): reviewed at the next maintenance. */
  const reviewNow = new Set<string>();
  /** The earliest complete read that could make an epoch final (§6.7), as of the last maintenance. */
  let finalityReadAt: number | undefined;

  async function upkeepMembership(): Promise<void> {
    const now = deps.clock.now();
    const hints = new Set(hinted);
    hinted.clear();
    const listings = new Map<string, Promise<DeviceListing>>();
    for (const stored of await deps.store.listGroups()) {
      const settled = settleFinality(deps, stored);
      if (!settled.active || settled.supersededBy || settled.deferred) continue;
      const group = await noteStanding(settled);
      // Reviews on a parent keep their own times: the first review once the epoch is final
      // comes at once, as before (adds wait for it). A new winner gets one at once too: what is
      // made on its parent must be made within `preemptWithinMs` (§6.7 rule 5).
      const reviewed = group.parent ? lastPreemptReview : lastReview;
      const last = reviewed.get(group.groupId) ?? Number.NEGATIVE_INFINITY;
      const asked = reviewNow.delete(group.groupId);
      const due = asked || now - last >= deps.policy.membershipReviewMs || (group.parent !== undefined && last < group.parent.appliedAt);
      if (!due && hints.size === 0 && !waiting.has(group.groupId)) continue;
      const scope = { listings, ...(due || waiting.has(group.groupId) ? {} : { only: hints }) };
      if (group.parent) {
        try {
          await preemptOnParent({ ...group, parent: group.parent }, now, scope);
          if (due) reviewed.set(group.groupId, now);
        } catch (error) {
          deps.onMaintenanceError?.(error);
        }
        continue;
      }
      if (!mayCommit(deps, group)) continue;
      try {
        const changes = await reviewMembership(deps, group, {
          ...scope,
          onError: (error) => deps.onMaintenanceError?.(error),
        });
        if (due) lastReview.set(group.groupId, now);
        const ready = await readyChanges(group, changes, now);
        if (ready.length > 0) await apply(await commitMembership(deps, group, ready));
      } catch (error) {
        // One group's trouble (an unreachable member PDS) must not stop the others' upkeep.
        deps.onMaintenanceError?.(error);
      }
    }
  }

  /**
   * §6.8: while every member is in the conversation, remember who they are, so that a member
   * outside it later is known to have left (the group waits for their removal) rather than
   * never to have been in it (the group is not the conversation's).
   */
  async function noteStanding(group: GroupRecord): Promise<GroupRecord> {
    if (!group.convoId || sameDids(group.stoodWith, group.memberDids)) return group;
    if ((await conversationStanding(deps, group, group.memberDids)) !== 'stands') return group;
    const noted = { ...group, stoodWith: [...group.memberDids] };
    await apply({ putGroups: [noted] });
    return noted;
  }

  /**
   * §6.7 rule 5: while an epoch waits to become final, what the conversation needs is not held
   * back by the commit waiting there, unless that commit adds devices. Removals it does not make
   * (someone left, a device was revoked), and adds when it changes no membership at all (a
   * self-update), are committed on the parent's epoch at this device's turn, if that commit
   * outranks the waiting one whatever its bytes. Only within `preemptWithinMs` of applying the
   * waiting commit (later, some member may already hold that epoch final) and by a device that
   * was reading when it appeared.
   */
  async function preemptOnParent(
    group: GroupRecord & { parent: NonNullable<GroupRecord['parent']> },
    now: number,
    scope: Pick<ReviewOptions, 'listings' | 'only'>,
  ): Promise<void> {
    const { appliedAt, readBefore } = group.parent;
    if (now - appliedAt > deps.policy.preemptWithinMs) return;
    // Displacing a commit that adds devices would strand them on a branch nobody follows (they
    // joined from its Welcome): what is needed waits for that epoch to be final instead, and
    // nothing is sent to someone who left meanwhile (§6.9).
    if (!addsNobody(group.parent.winnerRank)) return;
    if (readBefore === undefined || appliedAt - readBefore > deps.policy.preemptReadGapMs) return;
    const parentEpoch = (BigInt(group.current.epoch) - 1n).toString();
    const record = group.retained.find((r) => r.epoch === parentEpoch);
    if (!record) return;
    const parentState = decodeGroupState(deps.mls, group.parent.state);
    const onParent: GroupRecord = {
      ...group,
      state: group.parent.state,
      current: record,
      retained: group.retained.filter((r) => r !== record),
      memberDids: didsOf(parentState),
    };
    delete onParent.parent;
    const waitingChangesMembers = !changesNoMembers(group.parent.winnerRank);
    const needed = (await reviewMembership(deps, onParent, { ...scope, onError: (e) => deps.onMaintenanceError?.(e) })).filter(
      (c) => c.kind !== 'add' || !waitingChangesMembers,
    );
    const ready = await readyChanges(onParent, needed, now);
    // The commit waiting there may make these removals already: then there is nothing to do,
    // and re-making them would only displace it.
    const leafKey = (m: { identity: string; signaturePublicKey: Uint8Array }) => `${m.identity} ${toHex(m.signaturePublicKey)}`;
    const stillThere = new Set(members(decodeGroupState(deps.mls, group.state)).map(leafKey));
    if (!ready.some((c) => c.kind === 'add' || stillThere.has(leafKey(c.member)))) return;
    // commitMembership checks again with what it really commits (an add may fail its proof).
    await apply(await commitMembership(deps, group, ready, { onParent: true }));
  }

  /**
   * Members whose repo's newest event we read was sealed within `activeWithinMs`. Our own repo
   * is read like the others, and we are not favoured: every member should see the same set.
   */
  async function activeDids(group: GroupRecord, now: number): Promise<Set<string>> {
    const out = new Set<string>();
    for (const did of group.memberDids) {
      const cursor = await deps.store.getCursor(did);
      const sealedAt = cursor ? tidTimeMs(cursor.rkey) : undefined;
      if (sealedAt !== undefined && now - sealedAt <= deps.policy.activeWithinMs) out.add(did);
    }
    return out;
  }

  /** The changes whose turn has come for this device; remembers when each was first seen. */
  async function readyChanges(group: GroupRecord, changes: MembershipChange[], now: number): Promise<MembershipChange[]> {
    const prefix = `${group.groupId} `;
    const current = new Set(changes.map((c) => prefix + c.key));
    for (const key of noticed.keys()) if (key.startsWith(prefix) && !current.has(key)) noticed.delete(key);
    const ready: MembershipChange[] = [];
    if (changes.length === 0) {
      waiting.delete(group.groupId);
      dueAt.delete(group.groupId);
      return ready;
    }
    const state = groupState(deps, group);
    const active = await activeDids(group, now);
    let due = Number.POSITIVE_INFINITY;
    for (const change of changes) {
      const first = noticed.get(prefix + change.key) ?? now;
      noticed.set(prefix + change.key, first);
      const at = first + (await turnDelayMs(deps.policy, group, state, change, active));
      if (now >= at) ready.push(change);
      else due = Math.min(due, at);
    }
    if (ready.length < changes.length) {
      waiting.add(group.groupId);
      dueAt.set(group.groupId, due);
    } else {
      waiting.delete(group.groupId);
      dueAt.delete(group.groupId);
    }
    return ready;
  }

  return {
    createGroup: (dids, convoId) =>
      queue.run(async () => {
        const { changes, group } = await createGroupForDids(deps, dids, convoId);
        await apply(changes);
        for (const more of await resolveConversationGroups(deps)) await apply(more);
        return group;
      }),
    sendToConversation: (convoId, text) =>
      queue.run(async () => {
        const { changes, message, held } = await sendToConversation(deps, convoId, text);
        await apply(changes);
        if (held) reviewNow.add(message.groupId);
        return message;
      }),
    conversationMessages: (convoId) => conversationMessages(deps, convoId),
    conversationGroup: (convoId) => conversationGroup(deps, convoId),
    sendText: (groupId, text) =>
      queue.run(async () => {
        const { changes, message, held } = await sendText(deps, groupId, text);
        await apply(changes);
        if (held) reviewNow.add(groupId);
        return message;
      }),
    selfUpdate: (groupId) => queue.run(async () => apply(await commitSelfUpdate(deps, groupId))),
    maintain: () =>
      queue.run(async () => {
        for (const changes of await runDeferredCommits(deps)) await apply(changes);
        for (const changes of await resolveConversationGroups(deps)) await apply(changes);
        for (const changes of await leaveGroupsOfLeftConversations(deps)) await apply(changes);
        await upkeepMembership();
        // Post-compromise security: a self-update when this device's path keys are old or
        // have protected many of its messages (deferred while an epoch is not final).
        for (const stored of await deps.store.listGroups()) {
          const group = settleFinality(deps, stored);
          if (!selfUpdateDue(deps.policy, group, deps.clock.now())) continue;
          try {
            await apply(await commitSelfUpdate(deps, group.groupId));
          } catch (error) {
            deps.onMaintenanceError?.(error);
          }
        }
        await deleteExpiredEvents(deps);
        const reads = (await deps.store.listGroups()).map((g) => finalityReadDueAt(deps, g)).filter((t) => t !== undefined);
        finalityReadAt = reads.length === 0 ? undefined : Math.min(...reads);
        // The key-package pool: top up, withdraw old ones, forget used keys after their grace.
        if (deps.clock.now() - lastReplenish >= REPLENISH_EVERY_MS) {
          lastReplenish = deps.clock.now();
          const { repo, publicRepos, keyPackages, device, mls, newTid } = deps;
          await replenishKeyPackages({ repo, publicRepos, keyPackages, device, mls, newTid });
        }
      }),
    flush: () =>
      queue.run(() =>
        flushOutbox({ store: deps.store, repo: deps.repo, clock: deps.clock, ...(deps.retryPolicy ? { policy: deps.retryPolicy } : {}) }),
      ),
    poll: (contacts = [], options = {}) =>
      queue.run(async () => {
        const report = await pollInbox(deps, contacts, options);
        if (report.outcomes.some((o) => o.kind === 'joined')) {
          // What was read is stored; settling groups (asks the chat service) can wait for maintenance.
          try {
            for (const changes of await resolveConversationGroups(deps)) await apply(changes);
          } catch (error) {
            deps.onMaintenanceError?.(error);
          }
        }
        return report;
      }),
    retry: (rkey) => queue.run(() => retryOutboxItem(deps.store, rkey, deps.clock)),
    retryMessage: (groupId, messageId) =>
      queue.run(async () => {
        const item = (await deps.store.listOutbox()).find((o) => o.message?.groupId === groupId && o.message.id === messageId);
        return item ? retryOutboxItem(deps.store, item.rkey, deps.clock) : false;
      }),
    nextDueAt: () => {
      const due = [...dueAt.values(), ...(finalityReadAt === undefined ? [] : [finalityReadAt])];
      return due.length === 0 ? undefined : Math.min(...due);
    },
    noteRepoChanged: (did, collections) => {
      if (!collections || collections.some((c) => c === DEVICE_COLLECTION_NSID || c === KEY_PACKAGE_COLLECTION_NSID)) {
        hinted.add(did);
      }
    },
    groups: () => deps.store.listGroups(),
    mlsContext: () => deps.mls,
    messages: (groupId) => deps.store.listMessages(groupId),
  };
}

function sameDids(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((did) => set.has(did));
}
