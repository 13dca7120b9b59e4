import type { TagWindow } from '../protocol/tags';

/**
 * What a device stores to deliver events (docs/protocol.md §6–§7). Plain data plus WebCrypto
 * keys: everything structured-clones into IndexedDB. The use cases compute a `ChangeSet` and the
 * shell applies it in ONE IndexedDB transaction, so a state, its outbox items, its messages and
 * the cursor that led to them are stored together or not at all.
 */

/** One epoch's envelope and tag keys (§6.1), our send counter, and the tags we expect (§6.4). */
export interface EpochRecord {
  /** The epoch number, decimal (bigint does not survive every store). */
  epoch: string;
  /** AES-256-GCM, non-extractable. */
  envelopeKey: CryptoKey;
  /** HMAC-SHA256, non-extractable. */
  tagKey: CryptoKey;
  /** Tags of other members' next events in this epoch. */
  tags: TagWindow;
  /** Our next counter in this epoch; persisted before anything using it is published. */
  nextCounter: number;
}

export interface GroupRecord {
  /** Hex of the MLS group id. */
  groupId: string;
  /** The bsky.app conversation this group encrypts, when it is bound to one. */
  convoId?: string;
  /** encodeGroupState of the state new events are sent on. */
  state: Uint8Array;
  /** Keys of the state's current epoch. */
  current: EpochRecord;
  /**
   * Earlier epochs whose late events are still accepted (the MLS state retains their receiver
   * secrets): newest first, at most `retention` of them.
   */
  retained: EpochRecord[];
  /**
   * The state before the commit that made `state`, kept until that epoch is final (§6.7), so a
   * winning concurrent commit that arrives late can still be applied.
   */
  parent?: {
    state: Uint8Array;
    /** Hex SHA-256 of the winning commit's MLSMessage bytes (its rank). */
    winnerRank: string;
    appliedAt: number;
    /**
     * When the last complete read before `appliedAt` began (§6.7 rule 5: only a device that was
     * reading when the winner appeared may commit on the parent). Absent on older records.
     */
    readBefore?: number;
    /** Message ids we sent on the current branch since the parent: re-sent if it loses. */
    sentSince: string[];
    /** Set when the winning commit so far is ours: what to do again if it loses. */
    intent?: CommitIntent;
  };
  /**
   * Ids of our messages still to be sent on this group's current state: sent on a branch that
   * lost (§6.7), or written while someone who left was still in the group. They wait while the
   * group holds someone who left the conversation (§6.9).
   */
  resendPending?: string[];
  /**
   * The member DIDs when this device last found every member in the conversation (§6.8): a
   * member outside it now who is listed here has left (the group is still the conversation's,
   * and waits for their removal); one who is not was never in it.
   */
  stoodWith?: string[];
  /** DIDs of the members' repos, polled for this group's events. */
  memberDids: string[];
  /** False once a commit removed this device: history stays readable, nothing can be sent. */
  active: boolean;
  /**
   * When this device left the group because its account is no longer in the conversation
   * (§6.8): the state and every epoch key are deleted; only the messages remain.
   */
  leftAt?: number;
  /**
   * Another group encrypts the same conversation and won (§6.8): nothing more is sent here;
   * what arrives is still shown.
   */
  supersededBy?: string;
  /**
   * A commit we want to make but may not yet: nobody commits on an epoch that is not final
   * (§6.7), or a late winner for the parent epoch could no longer be applied. Done once final.
   */
  deferred?: CommitIntent;
  /**
   * When this device last committed fresh keys for its own path (a self-update, or a commit with
   * removes, which always carries a path): post-compromise security is measured from here.
   * Absent: since `createdAt` (creating or joining gave this device a fresh leaf).
   */
  lastPathUpdateAt?: number;
  /** Messages this device sent since `lastPathUpdateAt` (the other self-update trigger). */
  sentSinceUpdate?: number;
  /**
   * How this device came to be in the group: it created it, or joined it from an invite (and
   * so cannot read what was sent before `createdAt`). Absent on records stored before this was
   * kept.
   */
  origin?: GroupOrigin;
  /** When this device created or joined the group (ms). */
  createdAt: number;
  updatedAt: number;
}

export type GroupOrigin = 'created' | 'joined';

/** Why we committed, so the commit can be redone on the winning branch if it loses (§6.7). */
export type CommitIntent =
  | { kind: 'update' }
  /**
   * A membership change (`add` in records stored before removals existed). Not replayed: the
   * next membership review finds whatever is still missing or still revoked.
   */
  | { kind: 'members' }
  | { kind: 'add' };

export function messageKey(contentId: string, senderUri: string): string {
  return `${contentId} ${senderUri}`;
}

export type MessageStatus = 'sending' | 'sent' | 'failed';

export interface MessageRecord {
  groupId: string;
  /**
   * `messageKey(contentId, senderUri)`: duplicates (re-sends) are recognised by author AND id,
   * so a member cannot suppress someone else's message by re-using its id.
   */
  id: string;
  /** The author's random 16-byte hex id from the content. */
  contentId: string;
  /** The author's device credential (`at://did/org.atmessaging.device/rkey`), as MLS authenticated it. */
  senderUri: string;
  text: string;
  /** The author's claimed send time (ms); `receivedAt` is ours. */
  sentAt: number;
  receivedAt: number;
  own: boolean;
  status: MessageStatus;
}

/** A record write that must reach our repo: written under `rkey` until the PDS acknowledges it. */
export interface OutboxItem {
  rkey: string;
  collection: string;
  /** Lexicon JSON of the record, or of the record minus its blob when `blob` is set. */
  record: unknown;
  /** A sealed envelope too large for a record (§6.5): uploaded first, then referenced as `blob`. */
  blob?: Uint8Array;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  /** The message this write delivers, whose status follows the write's. */
  message?: { groupId: string; id: string };
}

/** How far this device has read a peer's events: the last rkey processed. */
export interface CursorRecord {
  did: string;
  rkey: string;
  updatedAt: number;
  /**
   * Record keys already processed within the look-back window before `rkey`: a record may be
   * published with an older key than ones already read (its key is chosen when it is sealed,
   * and a device can be offline in between), so readers look back and skip these.
   */
  recent?: string[];
}

/** An event no key of ours recognised yet (e.g. from an epoch we have not reached): retried. */
export interface PendingEvent {
  uri: string;
  did: string;
  rkey: string;
  tag: Uint8Array;
  ciphertext: Uint8Array;
  firstSeenAt: number;
  /**
   * Our invite key did not open it. That key never changes, so a retry looks for a group tag
   * only: every device parks the invites of every add meant for other devices, and trying each
   * as an invite again (an HPKE decapsulation) at every poll cost more than everything else.
   */
  notOurInvite?: boolean;
}

/** An event of ours that the PDS acknowledged: deleted from the repo after the retention period. */
export interface OwnEvent {
  rkey: string;
  collection: string;
  publishedAt: number;
}

export interface ChangeSet {
  putGroups?: GroupRecord[];
  deleteGroups?: string[];
  putMessages?: MessageRecord[];
  putOutbox?: OutboxItem[];
  deleteOutbox?: string[];
  putCursors?: CursorRecord[];
  putPending?: PendingEvent[];
  deletePending?: string[];
  /** SHA-256 ids of Welcomes used (replay protection, §6.6). */
  addWelcomes?: string[];
  putOwnEvents?: OwnEvent[];
  deleteOwnEvents?: string[];
}

/** The delivery state of a device. `apply` is atomic: one transaction, all or nothing. */
export interface DeliveryStore {
  apply(changes: ChangeSet): Promise<void>;
  getGroup(groupId: string): Promise<GroupRecord | undefined>;
  listGroups(): Promise<GroupRecord[]>;
  /**
   * The groups named for a conversation (`convoId`), by group id: what a conversation's status
   * needs, without reading every group (a woken worker answers a page's status request first).
   */
  listConvoGroups(convoId: string): Promise<GroupRecord[]>;
  getMessage(groupId: string, id: string): Promise<MessageRecord | undefined>;
  /** A group's messages, oldest first by `sentAt` (ties by id). */
  listMessages(groupId: string): Promise<MessageRecord[]>;
  /** Pending writes, oldest first by `createdAt`. */
  listOutbox(): Promise<OutboxItem[]>;
  getCursor(did: string): Promise<CursorRecord | undefined>;
  listPending(): Promise<PendingEvent[]>;
  /** How many parked events there are: all, or those from one repo (without reading them). */
  countPending(did?: string): Promise<number>;
  isWelcomeUsed(id: string): Promise<boolean>;
  /** Our published events, oldest first. */
  listOwnEvents(): Promise<OwnEvent[]>;
}
