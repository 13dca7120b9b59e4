import { toHex } from '../bytes';
import { AtmError } from '../errors';

/**
 * Event tags (docs/protocol.md §6.4): a PRF of (sender leaf, counter) under the epoch's tag key,
 * so members recognise their group's events and nobody else can link them.
 */
export const TAG_LENGTH = 16;
/** How many counters past the highest one seen a reader recognises, per sender leaf (§6.4). */
export const TAG_LOOKAHEAD = 64;

const TAG_LABEL = new TextEncoder().encode('atmessaging/v1 tag');
const MAX_LEAF = 0xffff_ffff;
const MAX_COUNTER = 0xffff_ffff_ffff_ffffn;

/** HMAC-SHA256(tag_key, "atmessaging/v1 tag" || uint32(sender_leaf) || uint64(counter))[0..16]. */
export async function eventTag(tagKey: CryptoKey, senderLeaf: number, counter: number | bigint): Promise<Uint8Array> {
  if (!Number.isInteger(senderLeaf) || senderLeaf < 0 || senderLeaf > MAX_LEAF) {
    throw new AtmError('InvalidInput', 'sender leaf is not a uint32', { senderLeaf });
  }
  const wide = typeof counter === 'bigint' ? counter : Number.isSafeInteger(counter) ? BigInt(counter) : -1n;
  if (wide < 0n || wide > MAX_COUNTER) {
    throw new AtmError('InvalidInput', 'counter is not a uint64', { counter: String(counter) });
  }
  const input = new Uint8Array(TAG_LABEL.length + 4 + 8);
  input.set(TAG_LABEL);
  const view = new DataView(input.buffer);
  view.setUint32(TAG_LABEL.length, senderLeaf);
  view.setBigUint64(TAG_LABEL.length + 4, wide);
  const mac = await globalThis.crypto.subtle.sign('HMAC', tagKey, input);
  return new Uint8Array(mac, 0, TAG_LENGTH).slice();
}

/** Which sender leaf and counter a recognised tag stands for. */
export interface TagMatch {
  leaf: number;
  counter: number;
}

/** One sender leaf's part of a window. */
export interface LeafTags {
  leaf: number;
  /** The highest counter consumed from this leaf; -1 before the first. */
  highest: number;
  /**
   * Hex tag → counter for every counter not consumed yet in
   * [highest + 1 - TAG_LOOKAHEAD, highest + TAG_LOOKAHEAD].
   */
  pending: Record<string, number>;
}

/**
 * A reader's tags for one epoch (one tag key): per member leaf, the tags of the next
 * TAG_LOOKAHEAD counters after the highest one consumed. Counters skipped by a jump stay
 * recognisable while within TAG_LOOKAHEAD below the highest, so an event published late is not
 * lost; a consumed counter is removed and never added again, so a replayed tag never matches.
 *
 * Plain data (numbers, strings, records): it survives JSON and structured clone, so the engine
 * stores it in IndexedDB beside the epoch's keys. State in, state out: nothing here changes its
 * input.
 */
export interface TagWindow {
  leaves: LeafTags[];
}

/** A window for the members of one epoch, nothing consumed yet. */
export async function createTagWindow(tagKey: CryptoKey, leaves: readonly number[]): Promise<TagWindow> {
  if (new Set(leaves).size !== leaves.length) {
    throw new AtmError('InvalidInput', 'a leaf is named twice', { leaves: [...leaves] });
  }
  return {
    leaves: await Promise.all(
      leaves.map(async (leaf) => ({ leaf, highest: -1, pending: await tagsFor(tagKey, leaf, 0, TAG_LOOKAHEAD - 1) })),
    ),
  };
}

/** The sender leaf and counter of a tag the window holds; undefined for any other tag. */
export function matchTag(window: TagWindow, tag: Uint8Array): TagMatch | undefined {
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_LENGTH) return undefined;
  const key = toHex(tag);
  for (const { leaf, pending } of window.leaves) {
    if (Object.hasOwn(pending, key)) return { leaf, counter: pending[key]! };
  }
  return undefined;
}

/**
 * Marks a matched counter as used and slides that leaf's window past it. Call it only once the
 * event has been accepted (envelope opened, and MLS authenticated `match.leaf` as the sender):
 * tags are public in the sender's repo, and every member holds the tag key, so consuming on a
 * bare tag match would let anyone burn another sender's counters.
 */
export async function consumeTag(tagKey: CryptoKey, window: TagWindow, match: TagMatch): Promise<TagWindow> {
  const index = window.leaves.findIndex((l) => l.leaf === match.leaf);
  const current = window.leaves[index];
  const key = current && Object.keys(current.pending).find((k) => current.pending[k] === match.counter);
  if (current === undefined || key === undefined) {
    throw new AtmError('InvalidInput', 'counter is not pending in this window', { ...match });
  }
  const highest = Math.max(current.highest, match.counter);
  const pending: Record<string, number> = {};
  for (const [k, counter] of Object.entries(current.pending)) {
    if (k !== key && counter > highest - TAG_LOOKAHEAD) pending[k] = counter;
  }
  // Only counters past the old end are added, so a consumed one never comes back.
  const oldEnd = current.highest + TAG_LOOKAHEAD;
  Object.assign(pending, await tagsFor(tagKey, match.leaf, oldEnd + 1, highest + TAG_LOOKAHEAD));
  const leaves = window.leaves.slice();
  leaves[index] = { leaf: match.leaf, highest, pending };
  return { leaves };
}

/** Tags of counters first..last (inclusive, capped at the largest safe integer), by hex. */
async function tagsFor(tagKey: CryptoKey, leaf: number, first: number, last: number): Promise<Record<string, number>> {
  const counters: number[] = [];
  for (let c = first; c <= Math.min(last, Number.MAX_SAFE_INTEGER); c++) counters.push(c);
  const tags = await Promise.all(counters.map((c) => eventTag(tagKey, leaf, c)));
  const out: Record<string, number> = {};
  tags.forEach((tag, i) => (out[toHex(tag)] = counters[i]!));
  return out;
}
