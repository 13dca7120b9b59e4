import { decodeGroupState as tsDecodeGroupState, encodeGroupState as tsEncodeGroupState, type RatchetTree } from 'ts-mls';
import { settle, type GroupState, type MlsContext } from './context';
import { MlsLayerError } from './errors';
import { decodeRatchetTreeBytes, decodeStrict, encodeRatchetTreeBytes } from './messageCodec';
import { CIPHER_SUITE_NAME } from './suite';

/**
 * Group state at rest. ts-mls's `encodeGroupState` leaves out `clientConfig` (it holds functions
 * and does not structured-clone), so decoding re-attaches one built from our context: our AS,
 * never ts-mls's accept-all default. A leading format byte lets a later codec coexist.
 *
 * Format 1 was ts-mls 1.6.4 as published, whose secret tree held every node; format 2 its state
 * with the lazily derived secret tree (patches/ts-mls+1.6.4.patch). Neither is read any more (no
 * released build stored one). Format 3 stores the ratchet trees (the current epoch's and those of
 * the retained past epochs) in a table of their own, then ts-mls's state with those trees left
 * empty:
 *
 *   u8 3 | u32 T | T × (u32 length, RatchetTree) | u32 current | u32 H | H × u32 tree |
 *   GroupState (ts-mls, trees replaced by placeholders)
 *
 * where `current` and each of the H historical epochs (in the state's order) name a table entry,
 * and the trees inside the ts-mls encoding are one-leaf placeholders.
 *
 * Why: the trees are nearly all of a state's bytes (about 200 KB per tree at 1,000 members) and
 * change only at commits, yet the engine decodes and encodes the state around every message. A
 * tree already encoded or decoded is reused (see TreeCache), so a message in a 1,000-member
 * group costs a codec pass over its secrets, not over its trees.
 *
 * The bytes hold every secret of the retained epochs and the device's signing key: store them
 * only where the rest of the device's keys live.
 */
const FORMAT_TREE_TABLE = 3;

export function encodeGroupState(state: GroupState): Uint8Array {
  const table: RatchetTree[] = [];
  const keys: Uint8Array[] = [];
  // Each tree is filed under the tree hash of the epoch that uses it (RFC 9420 §7.8).
  const indexOf = (tree: RatchetTree, treeHash: Uint8Array): number => {
    const at = table.indexOf(tree);
    if (at >= 0) return at;
    table.push(tree);
    keys.push(treeHash);
    return table.length - 1;
  };
  const current = indexOf(state.ratchetTree, state.groupContext.treeHash);
  const history = [...state.historicalReceiverData.values()].map((epochData) =>
    indexOf(epochData.ratchetTree, epochData.groupContext.treeHash),
  );
  // ts-mls cannot encode an empty tree in a decodable way (a tree must end in a leaf), so the
  // trees in the state proper are a one-leaf placeholder: any leaf of the tree (not necessarily
  // ours: a removed member's own leaf is blank).
  const leaf = state.ratchetTree.find((node) => node?.nodeType === 'leaf');
  if (leaf === undefined) throw new MlsLayerError('InvalidInput', 'GroupState: the ratchet tree has no leaf');
  const placeholder: RatchetTree = [leaf];
  const stripped: GroupState = {
    ...state,
    ratchetTree: placeholder,
    historicalReceiverData: new Map(
      [...state.historicalReceiverData].map(([epoch, epochData]) => [epoch, { ...epochData, ratchetTree: placeholder }]),
    ),
  };
  const encodedTrees = table.map((tree, i) => trees.encode(tree, keys[i]!));
  const body = tsEncodeGroupState(stripped);
  const out = new Writer(1 + 4 + encodedTrees.reduce((n, t) => n + 4 + t.length, 0) + 8 + 4 * history.length + body.length);
  out.u8(FORMAT_TREE_TABLE);
  out.u32(table.length);
  for (const bytes of encodedTrees) {
    out.u32(bytes.length);
    out.bytes(bytes);
  }
  out.u32(current);
  out.u32(history.length);
  for (const index of history) out.u32(index);
  out.bytes(body);
  return out.done();
}

export function decodeGroupState(ctx: MlsContext, bytes: Uint8Array): GroupState {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) {
    throw new MlsLayerError('MlsDecode', 'GroupState: empty', { what: 'GroupState' });
  }
  if (bytes[0] !== FORMAT_TREE_TABLE) {
    throw new MlsLayerError('MlsDecode', 'GroupState: unknown format', { what: 'GroupState', format: bytes[0] });
  }
  const input = new Reader(bytes, 1);
  const count = input.u32();
  const table: Uint8Array[] = [];
  for (let i = 0; i < count; i++) table.push(input.bytes(input.u32()));
  const decodedTrees = new Map<number, RatchetTree>();
  const tree = (index: number, treeHash: Uint8Array): RatchetTree => {
    const encoded = table[index];
    if (encoded === undefined) throw new MlsLayerError('MlsDecode', 'GroupState: tree index out of range', { what: 'GroupState', index });
    let decoded = decodedTrees.get(index);
    if (decoded === undefined) decodedTrees.set(index, (decoded = trees.decode(encoded, treeHash)));
    return decoded;
  };
  const currentIndex = input.u32();
  const historyCount = input.u32();
  const historyIndices: number[] = [];
  for (let i = 0; i < historyCount; i++) historyIndices.push(input.u32());
  const stripped = decodeStrict(tsDecodeGroupState, input.rest(), 'GroupState');
  if (stripped.groupContext.cipherSuite !== CIPHER_SUITE_NAME) {
    throw new MlsLayerError('UnsupportedCipherSuite', 'GroupState: not cipher suite 1', {
      cipherSuite: stripped.groupContext.cipherSuite,
    });
  }
  if (stripped.ratchetTree.length !== 1 || stripped.historicalReceiverData.size !== historyIndices.length) {
    throw new MlsLayerError('MlsDecode', 'GroupState: tree table does not match the state', { what: 'GroupState' });
  }
  const entries = [...stripped.historicalReceiverData];
  const historicalReceiverData = new Map(
    entries.map(([epoch, epochData], i) => {
      if (epochData.ratchetTree.length !== 1) {
        throw new MlsLayerError('MlsDecode', 'GroupState: tree table does not match the state', { what: 'GroupState' });
      }
      return [epoch, { ...epochData, ratchetTree: tree(historyIndices[i]!, epochData.groupContext.treeHash) }] as const;
    }),
  );
  const current = tree(currentIndex, stripped.groupContext.treeHash);
  return settle(ctx, { ...stripped, ratchetTree: current, historicalReceiverData });
}

/**
 * Encoded and decoded ratchet trees, reused across state encodings. Sharing a decoded tree
 * between states is sound because ts-mls never changes a tree in place (every change copies the
 * array first) and trees hold public data only: no secret in them is ever zeroed. The shared
 * trees are frozen, so a change in place would throw instead of leaking into another state.
 * Decoded trees are filed under the tree hash of their epoch's GroupContext and returned only
 * when the stored bytes equal the bytes being decoded, so a stale or forged hash costs a decode,
 * never a wrong tree.
 */
class TreeCache {
  private readonly encoded = new WeakMap<RatchetTree, Uint8Array>();
  private readonly decoded = new Map<string, { bytes: Uint8Array; tree: RatchetTree }>();
  constructor(private readonly max: number) {}

  encode(tree: RatchetTree, treeHash: Uint8Array): Uint8Array {
    const known = this.encoded.get(tree);
    if (known !== undefined) return known;
    const bytes = encodeRatchetTreeBytes(tree);
    this.remember(keyOf(treeHash), bytes, tree);
    return bytes;
  }

  decode(bytes: Uint8Array, treeHash: Uint8Array): RatchetTree {
    const key = keyOf(treeHash);
    const hit = this.decoded.get(key);
    if (hit !== undefined && sameBytes(hit.bytes, bytes)) {
      this.decoded.delete(key);
      this.decoded.set(key, hit);
      return hit.tree;
    }
    const copy = bytes.slice();
    const tree = decodeRatchetTreeBytes(copy);
    this.remember(key, copy, tree);
    return tree;
  }

  private remember(key: string, bytes: Uint8Array, tree: RatchetTree): void {
    Object.freeze(tree);
    for (const node of tree) {
      if (node === undefined) continue;
      Object.freeze(node);
      Object.freeze(node.nodeType === 'leaf' ? node.leaf : node.parent);
    }
    this.encoded.set(tree, bytes);
    this.decoded.delete(key);
    this.decoded.set(key, { bytes, tree });
    while (this.decoded.size > this.max) {
      const oldest = this.decoded.keys().next();
      if (oldest.done === true) break;
      this.decoded.delete(oldest.value);
    }
  }
}

// A few groups' current and retained trees.
const trees = new TreeCache(48);

function keyOf(treeHash: Uint8Array): string {
  let s = '';
  for (let i = 0; i < treeHash.length; i++) s += String.fromCharCode(treeHash[i]!);
  return s;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Writer {
  private readonly buffer: Uint8Array;
  private readonly view: DataView;
  private at = 0;
  constructor(length: number) {
    this.buffer = new Uint8Array(length);
    this.view = new DataView(this.buffer.buffer);
  }
  u8(value: number): void {
    this.buffer[this.at++] = value;
  }
  u32(value: number): void {
    this.view.setUint32(this.at, value);
    this.at += 4;
  }
  bytes(value: Uint8Array): void {
    this.buffer.set(value, this.at);
    this.at += value.length;
  }
  done(): Uint8Array {
    if (this.at !== this.buffer.length) throw new MlsLayerError('InvalidInput', 'GroupState: encoder length mismatch');
    return this.buffer;
  }
}

class Reader {
  private readonly view: DataView;
  constructor(
    private readonly buffer: Uint8Array,
    private at: number,
  ) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buffer.length) {
      throw new MlsLayerError('MlsDecode', 'GroupState: truncated', { what: 'GroupState', length: this.buffer.length });
    }
  }
  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }
  bytes(length: number): Uint8Array {
    this.need(length);
    const out = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }
  rest(): Uint8Array {
    return this.buffer.subarray(this.at);
  }
}
