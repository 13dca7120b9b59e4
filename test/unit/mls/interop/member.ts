/**
 * What the scenario runner needs from a group member, whichever implementation it is. All
 * messages are MLSMessage bytes except KeyPackages, which travel as bare KeyPackage structs
 * (what core-crypto's KeyPackage takes and serializes).
 */
import type { Implementation, InteropIdentity } from './identities';

export interface CommitOutput {
  /** MLSMessage (PrivateMessage, both implementations) to every current member. */
  commit: Uint8Array;
  /**
   * MLSMessage (Welcome) for the added members, as the committer's library made it: OpenMLS's
   * carries the ratchet tree in its GroupInfo, src/mls's does not (the tree goes beside it).
   */
  welcome?: Uint8Array;
  /** src/mls only: the ratchet tree sent beside its Welcome (AddMembersResult.ratchetTree). */
  ratchetTree?: Uint8Array;
  /**
   * src/mls only: the same Welcome re-made with the tree in its GroupInfo, for OpenMLS joiners,
   * whose core-crypto takes no tree beside a Welcome (welcome-with-tree.ts). Only for commits
   * without an UpdatePath (addMembers); absent for changeMembers.
   */
  welcomeWithTree?: Uint8Array;
}

/** What a member saw in a commit it processed, when its implementation says (src/mls does). */
export interface CommitSeen {
  committer: string;
  added: string[];
  removed: string[];
  removedSelf: boolean;
}

export interface GroupMember {
  readonly implementation: Implementation;
  /** Short name for failure messages: O7 (OpenMLS) or T3 (ours, src/mls), by creation order. */
  readonly name: string;
  readonly id: InteropIdentity;
  /** False once a commit removed this member. */
  readonly active: boolean;

  /** A fresh KeyPackage (bare struct bytes) whose private keys this member keeps for join(). */
  keyPackage(): Promise<Uint8Array>;
  createGroup(groupId: Uint8Array): Promise<void>;
  /** Joins from the committer's output: each implementation takes the Welcome it can use. */
  join(output: CommitOutput): Promise<void>;

  add(keyPackages: Uint8Array[]): Promise<CommitOutput>;
  /** Removes the members with these credential identities. */
  remove(identities: string[]): Promise<CommitOutput>;
  /** An empty commit with an UpdatePath: fresh keys on this member's path. */
  update(): Promise<CommitOutput>;
  processCommit(commit: Uint8Array): Promise<CommitSeen | undefined>;

  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
  /**
   * Application messages of the current epoch, in order: each one's plaintext and its sender's
   * credential identity. Throws a DecryptFailure naming the first that failed. (core-crypto does
   * them in one transaction: each transaction loads and stores the whole group in its database.)
   */
  decrypt(messages: Uint8Array[]): Promise<Decrypted[]>;

  /** The current epoch, MLS-Exporter("exporter", "", 32) (core-crypto's exportSecretKey(conversation, 32)), and the members' identities. */
  view(): Promise<EpochView>;
  dispose(): Promise<void>;
}

export interface Decrypted {
  plaintext: Uint8Array;
  sender: string;
}

export interface EpochView {
  epoch: bigint;
  exporterSecret: Uint8Array;
  /** Credential identities of the current epoch's members. */
  members: string[];
}

/** Which message of a decrypt() call failed. */
export class DecryptFailure extends Error {
  override name = 'DecryptFailure';
  constructor(
    readonly index: number,
    cause: unknown,
  ) {
    super(`message ${index} did not decrypt`, { cause });
  }
}

/** core-crypto's errors carry the reason in nested fields, not in `message`: flatten them to one line. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const extra: string[] = [];
  const seen = new WeakSet<object>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 5 || value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'string' && (key === 'msg' || key === 'tag' || key === 'kind' || key === 'type')) extra.push(`${key}=${v}`);
      else walk(v, depth + 1);
    }
  };
  walk(err, 0);
  const details = (err as { details?: unknown; context?: unknown }).details ?? (err as { context?: unknown }).context;
  const detailText =
    details && typeof details === 'object' && Object.keys(details).length
      ? ` ${JSON.stringify(details, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`
      : '';
  const cause = (err as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? ` [cause ${cause.name}: ${cause.message}]` : '';
  return `${err.name}: ${err.message}${detailText}${causeText}${extra.length ? ` (${extra.join(', ')})` : ''}`.slice(0, 800);
}
