import { toHex } from '../bytes';
import { isAtmError } from '../errors';
import type { MlsContext } from '../mls';
import type { AuthenticationService } from './authentication-service';
import type { GroupProgress } from './groups';
import type { DeliveryStore } from './delivery-state';
import type { Clock, KeyPackageStore, LocalDevice, OwnRepo, PublicRepos } from './ports';

/** Timings and bounds of delivery (docs/protocol.md §6.7, §7). */
export interface DeliveryPolicy {
  /**
   * A winning commit is final once a complete read of every repo, begun at least this long after
   * the commit was applied, found nothing better; then its parent state is deleted (§6.7).
   */
  finalityMs: number;
  /**
   * A commit the conversation needs is made on a parent's epoch only this soon after the winner
   * there was applied (§6.7 rule 5), so that it reaches every member before their window ends.
   */
  preemptWithinMs: number;
  /**
   * ...and only by a device whose last complete read before applying that winner began at most
   * this long before: it was reading when the winner appeared, not just back from being offline.
   */
  preemptReadGapMs: number;
  /** Past epochs whose late events are still accepted (and whose keys are kept). */
  retainedEpochs: number;
  /** Unrecognised events kept for a retry after the next epoch change. */
  pendingMax: number;
  pendingTtlMs: number;
  /** Our events are deleted from our repo this long after they were published. */
  retentionMs: number;
  /** How far back (by record-key time) readers look for events published late (§7). */
  lookbackMs: number;
  /** How often each group's people's devices are reviewed without a firehose hint (§6.9). */
  membershipReviewMs: number;
  /** The gap between two members' turns to commit the same membership change (§6.9). */
  staggerSlotMs: number;
  /** How long others leave adding a user's new device to that user's own devices (§6.9). */
  peerAddDelayMs: number;
  /** Someone whose newest event is this recent counts as online: their turns come first (§6.9). */
  activeWithinMs: number;
  /** Post-compromise security: each device commits a self-update at least this often... */
  selfUpdateIntervalMs: number;
  /** ...and after sending this many messages since its last one. */
  selfUpdateMessages: number;
}

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  finalityMs: 3 * 60_000,
  preemptWithinMs: 45_000,
  preemptReadGapMs: 90_000,
  retainedEpochs: 2,
  pendingMax: 1000,
  pendingTtlMs: 7 * 24 * 3600_000,
  retentionMs: 30 * 24 * 3600_000,
  lookbackMs: 24 * 3600_000,
  membershipReviewMs: 60_000,
  staggerSlotMs: 15_000,
  peerAddDelayMs: 30_000,
  activeWithinMs: 3 * 24 * 3600_000,
  selfUpdateIntervalMs: 7 * 24 * 3600_000,
  selfUpdateMessages: 100,
};

/**
 * What this device has read (§6.7): an epoch becomes final only after a read of every repo that
 * began late enough, since a better commit published meanwhile must still be seen. Kept in
 * memory by the engine: a restart only means waiting for the next complete read.
 */
export interface ReadLog {
  /** When the newest complete read began (our own repo answered: we were online). */
  completeReadStartedAt: number;
}

export function newReadLog(): ReadLog {
  return { completeReadStartedAt: Number.NEGATIVE_INFINITY };
}

export interface DeliveryDeps {
  device: LocalDevice;
  mls: MlsContext;
  store: DeliveryStore;
  repo: OwnRepo;
  publicRepos: PublicRepos;
  keyPackages: KeyPackageStore;
  /**
   * The Authentication Service (§4). `mls.auth` asks it with its cache; commits and Adds are
   * proven afresh with it (§6.7).
   */
  as: AuthenticationService;
  clock: Clock;
  newTid(): string;
  policy: DeliveryPolicy;
  reads: ReadLog;
  /**
   * The DIDs in a bsky conversation (the shell asks the chat service); their devices are added.
   * `fresh`: asked now, not from a cache (a commit's committer, §6.7; a send, §6.9). Throws
   * RemoteRefused with `context.error` 'InvalidConvo' when the service says this account is not
   * in the conversation (`isNotInConversation`); any other failure says nothing about that.
   */
  conversationDids?(convoId: string, options?: { fresh?: boolean }): Promise<readonly string[]>;
  /**
   * How far creating a group got (many seconds for a big conversation: each person's devices
   * are looked up and proven). Counts only; `convoId` says which conversation's panel shows it.
   */
  onGroupProgress?(progress: GroupProgress & { convoId?: string }): void;
  /** Maintenance failures that were contained (reported, not thrown). */
  onMaintenanceError?(error: unknown): void;
}

/** 16 random bytes, hex: message ids. */
export function randomId(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** The chat service said this account is not in the conversation (`conversationDids`). */
export function isNotInConversation(error: unknown): boolean {
  return isAtmError(error, 'RemoteRefused') && error.context['error'] === 'InvalidConvo';
}
