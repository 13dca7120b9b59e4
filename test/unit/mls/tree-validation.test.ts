import { describe, expect, it } from 'vitest';
import type { RatchetTree } from 'ts-mls';
import { validateRatchetTree } from 'ts-mls/clientState.js';
import { addMembers, joinGroup, members, removeMembers, selfUpdate, type GroupState, type MlsContext } from '../../../src/mls';
import { buildGroup, everyoneProcesses, keyPackageFor, newDevice, type Fixture } from './helpers';

/*
 * RFC 9420 §12.4.3.1, a joiner's check of the ratchet tree: for each non-blank parent node and
 * each entry of its unmerged_leaves, the entry must be a non-blank leaf below that node, and every
 * non-blank node between that leaf and the parent must list the leaf too. Nothing is said of the
 * nodes above the parent: a commit that replaced them has merged the leaf there.
 */

/**
 * Node indices of an eight-leaf tree: leaf L is node 2L; parents 1 (leaves 0-1), 5 (2-3), 9 (4-5),
 * 13 (6-7); 3 (leaves 0-3), 11 (4-7); the root is 7.
 */
const FREED_LEAF = 2;
const FREED_LEAF_NODE = 4;
const LOWER_PARENT = 3;
const ROOT = 7;
const RIGHT_PARENT = 11;

function unmerged(tree: RatchetTree, node: number): number[] | undefined {
  const n = tree[node];
  return n?.nodeType === 'parent' ? [...n.parent.unmergedLeaves] : undefined;
}

/** A copy of `tree` with the given parent nodes' unmerged_leaves replaced. */
function withUnmerged(tree: RatchetTree, lists: Record<number, number[]>): RatchetTree {
  return tree.map((n, i) => {
    const list = lists[i];
    if (list === undefined) return n;
    if (n?.nodeType !== 'parent') throw new Error(`node ${i} is not a parent node`);
    return { ...n, parent: { ...n.parent, unmergedLeaves: list } };
  });
}

function validate(ctx: MlsContext, state: GroupState, tree: RatchetTree) {
  return validateRatchetTree(
    tree,
    state.groupContext,
    state.clientConfig.lifetimeConfig,
    state.clientConfig.authService,
    state.groupContext.treeHash,
    ctx.suite.impl,
  );
}

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

/**
 * Eight members, one per leaf. erin (leaf 4) removes carol (leaf 2), which blanks parents 5, 3
 * and the root; erin's path fills the root again. alice's update fills parent 3 (parent 5 stays
 * blank: its other child is carol's freed leaf). alice adds ivan into the freed leaf, so parent 3
 * and the root list it as unmerged; then erin, in the other half of the tree, updates and
 * replaces the root. Parent 3 still lists leaf 2, the root above it no longer does.
 */
async function removeAddIntoFreedLeafThenUpdateFromOtherHalf(): Promise<Fixture & { current: GroupState[] }> {
  const fixture = await buildGroup(NAMES);
  const { ctx, registry } = fixture;
  let current = fixture.states;
  const ERIN = 4;
  current = await everyoneProcesses(ctx, current, ERIN, await removeMembers(ctx, current[ERIN]!, [FREED_LEAF]));
  current = current.filter((_, i) => i !== FREED_LEAF);
  current = await everyoneProcesses(ctx, current, 0, await selfUpdate(ctx, current[0]!));

  const ivan = await newDevice('ivan');
  registry.register(ivan);
  const ivanPackage = await keyPackageFor(ctx, ivan);
  const addIvan = await addMembers(ctx, current[0]!, [ivanPackage.keyPackage]);
  current = await everyoneProcesses(ctx, current, 0, addIvan);
  const ivanState = await joinGroup(ctx, {
    welcome: addIvan.welcome,
    ratchetTree: addIvan.ratchetTree,
    keyPackage: ivanPackage.keyPackage,
    privateKeyPackage: ivanPackage.privateKeyPackage,
  });
  current = [...current, ivanState];
  expect(members(ivanState).find((m) => m.identity === ivan.identity)?.leafIndex).toBe(FREED_LEAF);

  const erinNow = current.findIndex((s) => s.privatePath.leafIndex === ERIN);
  current = await everyoneProcesses(ctx, current, erinNow, await selfUpdate(ctx, current[erinNow]!));
  return { ...fixture, current };
}

describe('ratchet tree validation on join (RFC 9420 §12.4.3.1)', () => {
  it('accepts the tree left by a remove, an add into the freed leaf and an update from the other half', async () => {
    const { ctx, registry, current } = await removeAddIntoFreedLeafThenUpdateFromOtherHalf();
    const tree = current[0]!.ratchetTree;
    // The shape the rule is about: a lower parent lists erin's leaf, the root above it does not.
    expect(unmerged(tree, LOWER_PARENT)).toEqual([FREED_LEAF]);
    expect(unmerged(tree, ROOT)).toEqual([]);
    expect(tree[FREED_LEAF_NODE]?.nodeType).toBe('leaf');

    // Whoever adds the next member, the joiner accepts the tree.
    for (const [committer, name] of [[0, 'judy'], [current.length - 1, 'mallory']] as const) {
      const joiner = await newDevice(name);
      registry.register(joiner);
      const pkg = await keyPackageFor(ctx, joiner);
      const add = await addMembers(ctx, current[committer]!, [pkg.keyPackage]);
      const joined = await joinGroup(ctx, {
        welcome: add.welcome,
        ratchetTree: add.ratchetTree,
        keyPackage: pkg.keyPackage,
        privateKeyPackage: pkg.privateKeyPackage,
      });
      expect(joined.groupContext.epoch).toBe(add.newState.groupContext.epoch);
    }
  });

  it('refuses unmerged leaves that break the rule, each for its own reason', async () => {
    const { ctx, current } = await removeAddIntoFreedLeafThenUpdateFromOtherHalf();
    const state = current[0]!;
    const tree = state.ratchetTree;
    expect(await validate(ctx, state, tree)).toBeUndefined();

    // The root lists the leaf, but the non-blank parent between them does not.
    const skipsIntermediate = await validate(ctx, state, withUnmerged(tree, { [LOWER_PARENT]: [], [ROOT]: [FREED_LEAF] }));
    expect(skipsIntermediate?.message).toBe('non-blank intermediate node must list leaf node in its unmerged_leaves');

    // A parent lists a leaf that is not below it (every node on that leaf's own path lists it).
    const onPath = { [LOWER_PARENT]: [FREED_LEAF], [ROOT]: [FREED_LEAF] };
    const notDescendant = await validate(ctx, state, withUnmerged(tree, { ...onPath, [RIGHT_PARENT]: [FREED_LEAF] }));
    expect(notDescendant?.message).toBe('Unmerged leaf did not represent a non-blank descendant leaf node');

    // Parents list a blank leaf (every node on its path lists it).
    const blankLeaf = withUnmerged(tree, onPath);
    blankLeaf[FREED_LEAF_NODE] = undefined;
    expect((await validate(ctx, state, blankLeaf))?.message).toBe('Unmerged leaf did not represent a non-blank descendant leaf node');

    // A leaf outside the tree.
    const outside = await validate(ctx, state, withUnmerged(tree, { ...onPath, [ROOT]: [FREED_LEAF, 9] }));
    expect(outside?.message).toBe('Unmerged leaf did not represent a non-blank descendant leaf node');
  });
});
