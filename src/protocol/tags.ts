import { fromHex, toHex } from '../bytes';
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

/**
 * One sender leaf's part of a window: the tags of counters `first`, `first + 1`, ... in one
 * byte array (TAG_LENGTH bytes each), minus those consumed. The window covers
 * [max(0, highest + 1 - TAG_LOOKAHEAD), highest + TAG_LOOKAHEAD].
 *
 * Bytes rather than a map of hex strings: a window is stored with its group at every event, and
 * at 1,000 members 64,000 string keys took about 70 times longer to structured-clone than the
 * same tags as byte arrays.
 */
export interface LeafTags {
  leaf: number;
  /** The highest counter consumed from this leaf; -1 before the first. */
  highest: number;
  /** The counter of the first tag in `tags`. */
  first: number;
  /** The tags of counters first, first + 1, ..., concatenated. */
  tags: Uint8Array;
  /** Counters within the window already consumed, ascending: they never match again. */
  consumed: number[];
}

/**
 * A reader's tags for one epoch (one tag key): per member leaf, the tags of the next
 * TAG_LOOKAHEAD counters after the highest one consumed. Counters skipped by a jump stay
 * recognisable while within TAG_LOOKAHEAD below the highest, so an event published late is not
 * lost; a consumed counter is never matched again, so a replayed tag never matches.
 *
 * Plain data (numbers, arrays, byte arrays): it survives structured clone, so the engine
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
      leaves.map(async (leaf) => ({
        leaf,
        highest: -1,
        first: 0,
        tags: await tagsFor(tagKey, leaf, 0, TAG_LOOKAHEAD - 1),
        consumed: [],
      })),
    ),
  };
}

/** The sender leaf and counter of a tag the window holds; undefined for any other tag. */
export function matchTag(window: TagWindow, tag: Uint8Array): TagMatch | undefined {
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_LENGTH) return undefined;
  const key = toHex(tag);
  const stored = window.leaves[leafIndex(window).get(key) ?? -1];
  // The leaf's own index is exact: a tag it no longer holds (consumed, or forgotten) is no match.
  const counter = stored && pendingIndex(stored).get(key);
  return stored && counter !== undefined ? { leaf: stored.leaf, counter } : undefined;
}

/** The counters of a leaf still recognised, ascending (for diagnostics and tests). */
export function pendingCounters(window: TagWindow, leaf: number): number[] {
  const found = window.leaves.find((l) => l.leaf === leaf);
  return found ? [...pendingIndex(found).values()].sort((a, b) => a - b) : [];
}

/**
 * Marks a matched counter as used and slides that leaf's window past it. Call it only once the
 * event has been accepted (envelope opened, and MLS authenticated `match.leaf` as the sender):
 * tags are public in the sender's repo, and every member holds the tag key, so consuming on a
 * bare tag match would let anyone burn another sender's counters.
 */
export async function consumeTag(tagKey: CryptoKey, window: TagWindow, match: TagMatch): Promise<TagWindow> {
  const index = window.leaves.findIndex((l) => l.leaf === match.leaf);
  const current = index >= 0 ? upgradeLeafTags(window.leaves[index]!) : undefined;
  if (current === undefined || !isPending(current, match.counter)) {
    throw new AtmError('InvalidInput', 'counter is not pending in this window', { ...match });
  }
  const highest = Math.max(current.highest, match.counter);
  // Counters TAG_LOOKAHEAD or more below the highest are forgotten; the start never moves back.
  const first = Math.max(current.first, highest + 1 - TAG_LOOKAHEAD);
  const oldEnd = current.first + current.tags.length / TAG_LENGTH - 1;
  const end = highest + TAG_LOOKAHEAD;
  // Only counters past the old end are added, so a consumed one never comes back.
  const added = end > oldEnd ? await tagsFor(tagKey, match.leaf, oldEnd + 1, end) : new Uint8Array(0);
  const kept = current.tags.subarray((first - current.first) * TAG_LENGTH);
  const tags = new Uint8Array(kept.length + added.length);
  tags.set(kept);
  tags.set(added, kept.length);
  const consumed = [...current.consumed.filter((c) => c >= first), match.counter].sort((a, b) => a - b);
  let keys: string[] | undefined;
  const addedKeys = () => (keys ??= Array.from({ length: added.length / TAG_LENGTH }, (_, i) => toHex(added.subarray(i * TAG_LENGTH, (i + 1) * TAG_LENGTH))));
  const leaves = window.leaves.slice();
  const nextLeaf: LeafTags = { leaf: match.leaf, highest, first, tags, consumed };
  leaves[index] = nextLeaf;
  const next = { leaves };
  // The leaf's exact index follows from the previous one (if built) without re-encoding its tags.
  const previous = pendingIndexes.get(window.leaves[index]!);
  if (previous) {
    const following = new Map<string, number>();
    for (const [key, counter] of previous) if (counter >= first && counter !== match.counter) following.set(key, counter);
    addedKeys().forEach((key, i) => following.set(key, oldEnd + 1 + i));
    pendingIndexes.set(nextLeaf, following);
  }
  // The next window shares this one's tag → position index, plus the tags just added: without
  // it, matching an event would look in every leaf (1,000 at 1,000 members) or rebuild the index.
  const shared = leafIndexes.get(window);
  // It only grows (a sender skipping counters adds up to TAG_LOOKAHEAD - 1 stale entries per
  // event): past twice what the window can hold, the next window builds a fresh one instead.
  if (shared && shared.size <= 2 * window.leaves.length * 2 * TAG_LOOKAHEAD) {
    for (const key of addedKeys()) shared.set(key, index);
    leafIndexes.set(next, shared);
  }
  return next;
}

function isPending(leafTags: LeafTags, counter: number): boolean {
  const count = leafTags.tags.length / TAG_LENGTH;
  return (
    Number.isSafeInteger(counter) &&
    counter >= leafTags.first &&
    counter < leafTags.first + count &&
    !leafTags.consumed.includes(counter)
  );
}

/**
 * Hex tag → position in `leaves` of the leaf it was computed for, for every tag a window held or
 * holds. Windows that follow one another by consumeTag share one index, which only grows
 * (positions never change, and a tag is one leaf's for good): entries for tags since consumed
 * or forgotten remain, so a hit is only a candidate, settled by that leaf's own index.
 */
const leafIndexes = new WeakMap<TagWindow, Map<string, number>>();

function leafIndex(window: TagWindow): Map<string, number> {
  let index = leafIndexes.get(window);
  if (!index) {
    index = new Map();
    for (const [position, stored] of window.leaves.entries()) {
      for (const key of pendingIndex(stored).keys()) index.set(key, position);
    }
    leafIndexes.set(window, index);
  }
  return index;
}

/**
 * Hex tag → counter of a leaf's pending tags, built once per LeafTags object: windows are
 * immutable, and a consume replaces only the one leaf it touched, so the others keep theirs.
 */
const pendingIndexes = new WeakMap<object, Map<string, number>>();

function pendingIndex(stored: LeafTags | LegacyLeafTags): Map<string, number> {
  let index = pendingIndexes.get(stored);
  if (!index) {
    const leafTags = upgradeLeafTags(stored);
    const consumed = new Set(leafTags.consumed);
    index = new Map();
    for (let i = 0; i * TAG_LENGTH < leafTags.tags.length; i++) {
      const counter = leafTags.first + i;
      if (!consumed.has(counter)) index.set(toHex(leafTags.tags.subarray(i * TAG_LENGTH, (i + 1) * TAG_LENGTH)), counter);
    }
    pendingIndexes.set(stored, index);
  }
  return index;
}

/** Tags of counters first..last (inclusive, capped at the largest safe integer), concatenated. */
async function tagsFor(tagKey: CryptoKey, leaf: number, first: number, last: number): Promise<Uint8Array> {
  const counters: number[] = [];
  for (let c = first; c <= Math.min(last, Number.MAX_SAFE_INTEGER); c++) counters.push(c);
  const tags = await Promise.all(counters.map((c) => eventTag(tagKey, leaf, c)));
  const out = new Uint8Array(tags.length * TAG_LENGTH);
  tags.forEach((tag, i) => out.set(tag, i * TAG_LENGTH));
  return out;
}

/**
 * A leaf's window as stored before tags were kept as bytes (hex tag → pending counter). Read
 * as the same window: the counters it no longer holds within the range were consumed.
 */
interface LegacyLeafTags {
  leaf: number;
  highest: number;
  pending: Record<string, number>;
}

function upgradeLeafTags(stored: LeafTags | LegacyLeafTags): LeafTags {
  if (!('pending' in stored)) return stored;
  const first = Math.max(0, stored.highest + 1 - TAG_LOOKAHEAD);
  const count = stored.highest + TAG_LOOKAHEAD - first + 1;
  const tags = new Uint8Array(count * TAG_LENGTH);
  const pending = new Set<number>();
  for (const [hex, counter] of Object.entries(stored.pending)) {
    if (!Number.isSafeInteger(counter) || counter < first || counter >= first + count) continue;
    tags.set(fromHex(hex), (counter - first) * TAG_LENGTH);
    pending.add(counter);
  }
  const consumed: number[] = [];
  for (let c = first; c < first + count; c++) if (!pending.has(c)) consumed.push(c);
  return { leaf: stored.leaf, highest: stored.highest, first, tags, consumed };
}
