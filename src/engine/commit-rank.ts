import { toHex } from '../bytes';

/** What ranks a commit for one epoch of one group (docs/protocol.md §6.7). */
export interface RankedCommit {
  /** Hex of the MLS group id. */
  groupId: string;
  /** The epoch the commit was made on, decimal. */
  epoch: string;
  /** The committer's leaf index in that epoch. */
  committerLeaf: number;
  /** How many leaves the commit removes and adds. */
  removed: number;
  added: number;
  /** The MLSMessage bytes of the commit. */
  message: Uint8Array;
}

/** Wider than any group (RFC 9420 trees of 32-bit leaf indices are never this full here). */
const COUNT_DIGITS = 10;
const COUNT_CEILING = 10 ** COUNT_DIGITS - 1;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/** A count, so that more sorts first in a string comparison of fixed width. */
function moreFirst(count: number): string {
  return String(COUNT_CEILING - Math.min(count, COUNT_CEILING)).padStart(COUNT_DIGITS, '0');
}

/**
 * §6.7: the rank of a commit among the commits for the same epoch; the smallest wins. Compared
 * as strings, in this order:
 * 1. more removed leaves first, then more added ones: membership changes the conversation needs
 *    win over self-updates, so a member committing empty commits cannot hold a removal back;
 * 2. SHA-256 of `"<group id hex>/<epoch>/<committer leaf index>"`: which member wins a tie is
 *    decided by the epoch, and no committer can change it by re-making its commit (the leaf
 *    index is fixed within the epoch);
 * 3. SHA-256 of the commit's bytes, which orders only one committer's own commits: grinding it
 *    gains nothing against anyone else.
 */
export async function commitRank(commit: RankedCommit): Promise<string> {
  return `${await rankBeforeBytes(commit)}.${await sha256Hex(commit.message)}`;
}

/**
 * The rank's parts that do not depend on the commit's bytes: enough to know, before making a
 * commit, whether it will outrank another one (`outranks`).
 */
export async function rankBeforeBytes(commit: Omit<RankedCommit, 'message'>): Promise<string> {
  const seat = await sha256Hex(new TextEncoder().encode(`${commit.groupId}/${commit.epoch}/${commit.committerLeaf}`));
  return [moreFirst(commit.removed), moreFirst(commit.added), seat].join('.');
}

/** Whether a commit with these parts ranks before `winnerRank` whatever its bytes. */
export function outranks(beforeBytes: string, winnerRank: string): boolean {
  return beforeBytes < winnerRank.slice(0, beforeBytes.length);
}

/** Whether the commit of this rank neither removes nor adds anyone (a self-update). */
export function changesNoMembers(rank: string): boolean {
  return rank.startsWith(`${moreFirst(0)}.${moreFirst(0)}.`);
}

/** Whether the commit of this rank adds nobody. */
export function addsNobody(rank: string): boolean {
  return rank.slice(COUNT_DIGITS + 1, 2 * COUNT_DIGITS + 1) === moreFirst(0);
}
