import { commitSelfUpdate, runDeferredCommits } from './commits';
import { createGroupForDids } from './create-group';
import type { DeliveryDeps } from './delivery-deps';
import type { ChangeSet, GroupRecord, MessageRecord } from './delivery-state';
import { pollInbox, type PollReport } from './inbox';
import { flushOutbox, retryOutboxItem, type FlushReport, type RetryPolicy } from './outbox';
import { sendText } from './send';
import { conversationGroup, conversationMessages, resolveConversationGroups, sendToConversation } from './convo-groups';
import { deleteExpiredEvents } from './retention';
import { replenishKeyPackages } from './key-package-pool';
import { addMissingDevices } from './add-devices';

/** How often maintenance reconciles the key-package pool with the repo (a listing each time). */
const REPLENISH_EVERY_MS = 30 * 60_000;
const ADD_CHECK_MS = 20_000;
import { createSerialQueue } from './serial';
import type { AuthenticationService } from './authentication-service';

export interface DeliveryEngine {
  createGroup(dids: readonly string[], convoId?: string): Promise<GroupRecord>;
  /** Sends to a conversation's encrypted group (the winning one if there are several, §6.8). */
  sendToConversation(convoId: string, text: string): Promise<MessageRecord>;
  conversationMessages(convoId: string): Promise<MessageRecord[]>;
  conversationGroup(convoId: string): Promise<GroupRecord | undefined>;
  sendText(groupId: string, text: string): Promise<MessageRecord>;
  selfUpdate(groupId: string): Promise<void>;
  /**
   * Periodic work: finalises epochs whose window passed, makes the commits that waited for
   * that, and deletes our events past the retention period.
   */
  maintain(): Promise<void>;
  /** Publishes what the outbox holds (in order, with retries). */
  flush(): Promise<FlushReport>;
  /** Reads new events from peers' repos (and `contacts`, for invites) and applies them. */
  poll(contacts?: readonly string[]): Promise<PollReport>;
  retry(rkey: string): Promise<boolean>;
  /** Retries the outbox write that delivers a message (the panel's Retry button). */
  retryMessage(groupId: string, messageId: string): Promise<boolean>;
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
  deps: DeliveryDeps & { as: AuthenticationService; retryPolicy?: RetryPolicy },
): DeliveryEngine {
  const queue = createSerialQueue();
  let lastReplenish = Number.NEGATIVE_INFINITY;
  const lastAddCheck = new Map<string, number>();
  const apply = (changes: ChangeSet) => deps.store.apply(changes);
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
        const { changes, message } = await sendToConversation(deps, convoId, text);
        await apply(changes);
        return message;
      }),
    conversationMessages: (convoId) => conversationMessages(deps, convoId),
    conversationGroup: (convoId) => conversationGroup(deps, convoId),
    sendText: (groupId, text) =>
      queue.run(async () => {
        const { changes, message } = await sendText(deps, groupId, text);
        await apply(changes);
        return message;
      }),
    selfUpdate: (groupId) => queue.run(async () => apply(await commitSelfUpdate(deps, groupId))),
    maintain: () =>
      queue.run(async () => {
        for (const changes of await runDeferredCommits(deps)) await apply(changes);
        for (const changes of await resolveConversationGroups(deps)) await apply(changes);
        // Devices that appeared since (new browsers, people who installed later), at most every
        // ADD_CHECK_MS per group: each check lists and proves the members' key packages.
        for (const group of await deps.store.listGroups()) {
          if (deps.clock.now() - (lastAddCheck.get(group.groupId) ?? -Infinity) < ADD_CHECK_MS) continue;
          lastAddCheck.set(group.groupId, deps.clock.now());
          try {
            const changes = await addMissingDevices(deps, group);
            if (changes) await apply(changes);
          } catch (error) {
            // One group's trouble (an unreachable member PDS) must not stop the others' upkeep.
            deps.onMaintenanceError?.(error);
          }
        }
        await deleteExpiredEvents(deps);
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
    poll: (contacts = []) =>
      queue.run(async () => {
        const report = await pollInbox(deps, contacts);
        if (report.outcomes.some((o) => o.kind === 'joined')) {
          for (const changes of await resolveConversationGroups(deps)) await apply(changes);
        }
        return report;
      }),
    retry: (rkey) => queue.run(() => retryOutboxItem(deps.store, rkey, deps.clock)),
    retryMessage: (groupId, messageId) =>
      queue.run(async () => {
        const item = (await deps.store.listOutbox()).find((o) => o.message?.groupId === groupId && o.message.id === messageId);
        return item ? retryOutboxItem(deps.store, item.rkey, deps.clock) : false;
      }),
    groups: () => deps.store.listGroups(),
    mlsContext: () => deps.mls,
    messages: (groupId) => deps.store.listMessages(groupId),
  };
}
