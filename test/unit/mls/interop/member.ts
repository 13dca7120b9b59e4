/**
 * What the scenario runner needs from a group member, whichever implementation it is. All
 * messages are MLSMessage bytes except KeyPackages, which travel as bare KeyPackage structs
 * (what core-crypto's KeyPackage takes and serializes).
 */
import type { Implementation, InteropIdentity } from './identities';

export interface CommitOutput {
  /** MLSMessage (PublicMessage: see the README of this folder for why) to every current member. */
  commit: Uint8Array;
  /** MLSMessage (Welcome) for the added members, its GroupInfo carrying the ratchet tree. */
  welcome?: Uint8Array;
}

export interface GroupMember {
  readonly implementation: Implementation;
  /** Short name for failure messages: O7 (OpenMLS) or T3 (ours, over ts-mls), by creation order. */
  readonly name: string;
  readonly id: InteropIdentity;
  /** False once a commit removed this member. */
  readonly active: boolean;

  /** A fresh KeyPackage (bare struct bytes) whose private keys this member keeps for join(). */
  keyPackage(): Promise<Uint8Array>;
  createGroup(groupId: Uint8Array): Promise<void>;
  join(welcome: Uint8Array): Promise<void>;

  add(keyPackages: Uint8Array[]): Promise<CommitOutput>;
  /** Removes the members with these credential identities. */
  remove(identities: string[]): Promise<CommitOutput>;
  /** An empty commit with an UpdatePath: fresh keys on this member's path. */
  update(): Promise<CommitOutput>;
  processCommit(commit: Uint8Array): Promise<void>;

  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
  decrypt(message: Uint8Array): Promise<Uint8Array>;

  epoch(): Promise<bigint>;
  /** MLS-Exporter("exporter", "", 32): what core-crypto's exportSecretKey(conversation, 32) derives. */
  exporterSecret(): Promise<Uint8Array>;
  /** Credential identities of the current epoch's members. */
  memberIdentities(): Promise<string[]>;
  dispose(): void;
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
      if (typeof v === 'string' && (key === 'msg' || key === 'tag' || key === 'kind')) extra.push(`${key}=${v}`);
      else walk(v, depth + 1);
    }
  };
  walk(err, 0);
  const details = (err as { details?: unknown }).details;
  const detailText = details && typeof details === 'object' && Object.keys(details).length ? ` ${JSON.stringify(details, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}` : '';
  return `${err.name}: ${err.message}${detailText}${extra.length ? ` (${extra.join(', ')})` : ''}`.slice(0, 800);
}
