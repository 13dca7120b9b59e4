import { describe, expect, it } from 'vitest';
import type { Hash } from 'ts-mls';
import { decodeRatchetTree, type RatchetTree } from 'ts-mls/ratchetTree.js';
import { treeHash, treeHashRoot } from 'ts-mls/treeHash.js';
import { rootFromNodeWidth, toNodeIndex, type NodeIndex } from 'ts-mls/treemath.js';
import { hexToBytes } from '@noble/ciphers/utils.js';
import vectors from './ietf/vectors/tree-validation.json';
import { sha256Hash } from '../../../src/mls/suite';

// patches/ts-mls+1.6.4.patch makes ts-mls remember subtree hashes across calls (per hash
// implementation), trusting that a node object at a position is never changed in place. These
// tests hold it to a fresh computation: a new Hash object has no memo and no leaf-hash cache.

type Node = RatchetTree[number];

function vectorTree(index: number): RatchetTree {
  const decoded = decodeRatchetTree(hexToBytes(vectors[index]!.tree), 0);
  if (decoded === undefined) throw new Error('vector tree does not decode');
  return decoded[0];
}

const fresh = (): Hash => ({ ...sha256Hash });

/** A small deterministic generator, so a failure replays. */
function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** What a commit does to a tree: a copy with some positions holding new objects or blanks. */
function mutate(tree: RatchetTree, rand: (n: number) => number): RatchetTree {
  const copy = tree.slice();
  const changes = 1 + rand(3);
  for (let c = 0; c < changes; c++) {
    const i = rand(copy.length);
    const node: Node = copy[i];
    const key = new Uint8Array(32).map(() => rand(256));
    if (rand(4) === 0) copy[i] = undefined;
    else if (node?.nodeType === 'leaf') copy[i] = { nodeType: 'leaf', leaf: { ...node.leaf, hpkePublicKey: key } };
    else if (node?.nodeType === 'parent') copy[i] = { nodeType: 'parent', parent: { ...node.parent, hpkePublicKey: key } };
    else if (i % 2 === 1) copy[i] = { nodeType: 'parent', parent: { hpkePublicKey: key, parentHash: new Uint8Array(), unmergedLeaves: [] } };
  }
  return copy;
}

describe('tree-hash memo (ts-mls patch)', () => {
  it('gives every subtree of evolving, interleaved and older trees the hash a fresh computation gives', async () => {
    const rand = prng(7);
    const shared = fresh();
    const histories: RatchetTree[][] = [[vectorTree(8)], [vectorTree(11)], [vectorTree(3)]];
    let checked = 0;
    for (let step = 0; step < 150; step++) {
      const history = histories[rand(histories.length)]!;
      const next = mutate(history[history.length - 1]!, rand);
      history.push(next);
      // A subtree first, then the whole tree: the memo must not answer the root with a hash
      // from before the subtree's nodes changed.
      const part = toNodeIndex(rand(next.length));
      expect(await treeHash(next, part, shared), `step ${step}, node ${part} first`).toStrictEqual(await treeHash(next, part, fresh()));
      checked++;
      // Sometimes an older version of the group's tree (a stale state), and concurrently another
      // group's tree, so two hashings share the memos at once.
      const other = histories[rand(histories.length)]!;
      const older = history[rand(history.length)]!;
      const targets: [RatchetTree, NodeIndex][] = [
        [next, rootFromNodeWidth(next.length)],
        [next, toNodeIndex(rand(next.length))],
        [older, toNodeIndex(rand(older.length))],
        [other[other.length - 1]!, rootFromNodeWidth(other[other.length - 1]!.length)],
      ];
      const got = await Promise.all(targets.map(([tree, index]) => treeHash(tree, index, shared)));
      for (const [k, [tree, index]] of targets.entries()) {
        expect(got[k], `step ${step}, node ${index}`).toStrictEqual(await treeHash(tree, index, fresh()));
        checked++;
      }
    }
    expect(checked).toBe(750);
  });

  it('re-hashes only the changed leaf and its ancestors', async () => {
    let digests = 0;
    const counting: Hash = { ...sha256Hash, digest: async (data) => (digests++, sha256Hash.digest(data)) };
    const tree = vectorTree(8); // 127 nodes: 64 leaves, 6 levels of parents
    await treeHashRoot(tree, counting);
    expect(digests).toBeGreaterThan(60);
    const changed = tree.slice();
    const leaf = changed[20];
    if (leaf?.nodeType !== 'leaf') throw new Error('vector tree has no leaf at node 20');
    changed[20] = { nodeType: 'leaf', leaf: { ...leaf.leaf, hpkePublicKey: new Uint8Array(32).fill(9) } };
    digests = 0;
    const hash = await treeHashRoot(changed, counting);
    expect(digests).toBe(7);
    expect(hash).toStrictEqual(await treeHashRoot(changed, fresh()));
    // The original tree is still answered correctly after the memo moved on.
    expect(await treeHashRoot(tree, counting)).toStrictEqual(await treeHashRoot(tree, fresh()));
  });

  it('keeps two concurrent hashings of the same group from mixing their trees in the memo', async () => {
    const shared = fresh();
    const base = vectorTree(8);
    await treeHashRoot(base, shared);
    const withLeaf = (tree: RatchetTree, index: number, fill: number): RatchetTree => {
      const node = tree[index];
      if (node?.nodeType !== 'leaf') throw new Error(`vector tree has no leaf at node ${index}`);
      const copy = tree.slice();
      copy[index] = { nodeType: 'leaf', leaf: { ...node.leaf, hpkePublicKey: new Uint8Array(32).fill(fill) } };
      return copy;
    };
    const first = withLeaf(base, 4, 1);
    const second = withLeaf(base, 60, 2);
    await Promise.all([treeHashRoot(first, shared), treeHashRoot(second, shared)]);
    // A tree holding both changed leaves (the same objects): only a memo that mixed the two
    // hashings would answer it without hashing both paths.
    const both = second.slice();
    both[4] = first[4];
    expect(await treeHashRoot(both, shared)).toStrictEqual(await treeHashRoot(both, fresh()));
  });

  it('returns a copy: changing a returned hash does not change the next answer', async () => {
    const shared = fresh();
    const tree = vectorTree(8);
    const first = await treeHashRoot(tree, shared);
    const expected = first.slice();
    first.fill(0);
    expect(await treeHashRoot(tree, shared)).toStrictEqual(expected);
  });
});
