import { bytesEqual } from '../bytes';
import {
  createCommit,
  createGroup as tsCreateGroup,
  emptyPskIndex,
  processPrivateMessage,
  type KeyPackage,
  type LeafNode,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Proposal,
  type ProposalWithSender,
  type Extension,
  type RatchetTree,
} from 'ts-mls';
import { extensionsSupportedByCapabilities } from 'ts-mls/extension.js';
import { unprotectPrivateMessage, type UnprotectResult } from 'ts-mls/messageProtection.js';
import { encodeLeafNode } from 'ts-mls/leafNode.js';
import { credentialIdentity } from './credential';
import { runMls, settle, type GroupState, type MlsContext } from './context';
import { MlsLayerError } from './errors';
import { checkKeyPackageLifetime, CONVERSATION_EXTENSION_TYPE, validateKeyPackage } from './keyPackage';
import {
  decodePrivateMessage,
  encodePrivateMessage,
  encodeRatchetTreeBytes,
  encodeWelcomeMessage,
} from './messageCodec';
import { CIPHER_SUITE_NAME } from './suite';

/** A member of the group: who sits at a leaf of the ratchet tree (RFC 9420 §7.8). */
export interface Member {
  leafIndex: number;
  /** The device record AT-URI from the leaf's basic credential. */
  identity: string;
  signaturePublicKey: Uint8Array;
}

export const GROUP_ID_LENGTH = 32;

export interface CreateGroupParams {
  /** The creator's own KeyPackage and its private keys (consumed: do not publish it). */
  keyPackage: KeyPackage;
  privateKeyPackage: PrivateKeyPackage;
  /** 32 bytes; random by default. */
  groupId?: Uint8Array;
  /** The conversation this group encrypts, carried in the group context (§6.8). */
  conversation?: string;
}

/** A one-member group at epoch 0 (RFC 9420 §11). */
export async function createGroup(ctx: MlsContext, params: CreateGroupParams): Promise<GroupState> {
  const groupId = params.groupId?.slice() ?? ctx.suite.impl.rng.randomBytes(GROUP_ID_LENGTH);
  if (groupId.length !== GROUP_ID_LENGTH) {
    throw new MlsLayerError('InvalidInput', 'group id must be 32 bytes', { length: groupId.length });
  }
  if (params.keyPackage.cipherSuite !== CIPHER_SUITE_NAME) {
    throw new MlsLayerError('UnsupportedCipherSuite', 'own key package is not for cipher suite 1', {
      cipherSuite: params.keyPackage.cipherSuite,
    });
  }
  if (credentialIdentity(params.keyPackage.leafNode.credential) === undefined) {
    throw new MlsLayerError('InvalidInput', 'own credential is not a device AT-URI');
  }
  const state = await runMls(ctx, 'createGroup', (config) =>
    tsCreateGroup(
      groupId,
      params.keyPackage,
      params.privateKeyPackage,
      params.conversation === undefined
        ? []
        : [{ extensionType: CONVERSATION_EXTENSION_TYPE, extensionData: new TextEncoder().encode(params.conversation) }],
      ctx.suite.impl,
      config,
    ),
  );
  return settle(ctx, state);
}

/** The conversation named in the group context, if any (UTF-8; undefined if absent or malformed). */
export function groupConversation(state: GroupState): string | undefined {
  return conversationOf(state.groupContext.extensions);
}

/** The conversation id a group context's extensions name (§6.8), if any. */
export function conversationOf(extensions: readonly Extension[]): string | undefined {
  const ext = extensions.find((e) => e.extensionType === CONVERSATION_EXTENSION_TYPE);
  if (!ext) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(ext.extensionData);
  } catch {
    return undefined;
  }
}

export function groupId(state: GroupState): Uint8Array {
  return state.groupContext.groupId.slice();
}

export function epoch(state: GroupState): bigint {
  return state.groupContext.epoch;
}

export function ownLeafIndex(state: GroupState): number {
  return state.privatePath.leafIndex;
}

/** False once a commit removed this member: it can read old epochs but not send or follow. */
export function isActive(state: GroupState): boolean {
  return state.groupActiveState.kind === 'active';
}

/** Every member of the current epoch, by leaf index. */
export function members(state: GroupState): Member[] {
  const result: Member[] = [];
  for (let nodeIndex = 0; nodeIndex < state.ratchetTree.length; nodeIndex += 2) {
    if (state.ratchetTree[nodeIndex]?.nodeType === 'leaf') result.push(memberAt(state.ratchetTree, nodeIndex / 2));
  }
  return result;
}

/** The member at a leaf of a given epoch's tree; NotMember for a blank or absent leaf. */
export function memberAt(tree: RatchetTree, leafIndex: number): Member {
  const node = tree[leafIndex * 2];
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || node === undefined || node.nodeType !== 'leaf') {
    throw new MlsLayerError('NotMember', 'no member at this leaf', { leafIndex });
  }
  const identity = credentialIdentity(node.leaf.credential);
  // Unreachable for trees built through this module: our AS refuses anything else.
  if (identity === undefined) {
    throw new MlsLayerError('UntrustedCredential', 'leaf credential is not a device AT-URI', { leafIndex });
  }
  return { leafIndex, identity, signaturePublicKey: node.leaf.signaturePublicKey.slice() };
}

export interface CommitResult {
  newState: GroupState;
  /** MLSMessage (PrivateMessage) to send to the current members. */
  commit: Uint8Array;
  /** Secrets ts-mls retired; zero them once the new epoch is final (they are shared with `state`). */
  consumed: Uint8Array[];
}

export interface AddMembersResult extends CommitResult {
  /** MLSMessage (Welcome) for the added members. */
  welcome: Uint8Array;
  /** The new epoch's ratchet tree, which the Welcome does not carry. */
  ratchetTree: Uint8Array;
  added: Member[];
}

/**
 * Commits Add proposals for the given KeyPackages (RFC 9420 §12.1.1). Each package is validated
 * first (suite, lifetime by ctx.clock, signatures, our AS).
 */
export async function addMembers(ctx: MlsContext, state: GroupState, keyPackages: KeyPackage[]): Promise<AddMembersResult> {
  requireActive(state);
  if (keyPackages.length === 0) throw new MlsLayerError('InvalidInput', 'no key packages to add');
  for (const keyPackage of keyPackages) await validateKeyPackage(ctx, keyPackage);
  const proposals: Proposal[] = keyPackages.map((keyPackage) => ({ proposalType: 'add', add: { keyPackage } }));
  const result = await commit(ctx, state, proposals, 'addMembers');
  if (result.welcome === undefined) throw new MlsLayerError('MlsRejected', 'addMembers: ts-mls produced no Welcome');
  const tree = result.newState.ratchetTree;
  const leafOf = leafIndexFinder(tree);
  const added = keyPackages.map((keyPackage) => {
    const leafIndex = leafOf(keyPackage.leafNode);
    if (leafIndex === undefined) throw new MlsLayerError('MlsRejected', 'addMembers: added leaf not in tree');
    return memberAt(tree, leafIndex);
  });
  return {
    newState: result.newState,
    commit: result.commit,
    consumed: result.consumed,
    welcome: encodeWelcomeMessage(result.welcome),
    ratchetTree: encodeRatchetTreeBytes(tree),
    added,
  };
}

export interface RemoveMembersResult extends CommitResult {
  removed: Member[];
}

/** Commits Remove proposals (RFC 9420 §12.1.3); the commit's UpdatePath locks the removed out. */
export async function removeMembers(ctx: MlsContext, state: GroupState, leafIndices: number[]): Promise<RemoveMembersResult> {
  requireActive(state);
  if (leafIndices.length === 0) throw new MlsLayerError('InvalidInput', 'no members to remove');
  if (new Set(leafIndices).size !== leafIndices.length) {
    throw new MlsLayerError('InvalidInput', 'a member is named twice', { leafIndices });
  }
  if (leafIndices.includes(ownLeafIndex(state))) {
    throw new MlsLayerError('InvalidInput', 'a member cannot remove itself by commit', { leafIndex: ownLeafIndex(state) });
  }
  const removed = leafIndices.map((leafIndex) => memberAt(state.ratchetTree, leafIndex));
  const proposals: Proposal[] = leafIndices.map((removedLeaf) => ({ proposalType: 'remove', remove: { removed: removedLeaf } }));
  const result = await commit(ctx, state, proposals, 'removeMembers');
  return { newState: result.newState, commit: result.commit, consumed: result.consumed, removed };
}

export interface ChangeMembersResult extends CommitResult {
  added: Member[];
  removed: Member[];
  /** Present when the commit adds someone: the Welcome and the tree it does not carry. */
  welcome?: Uint8Array;
  ratchetTree?: Uint8Array;
}

/**
 * One commit that adds and removes members together (RFC 9420 §12.1.1, §12.1.3): maintenance
 * reconciles a group with its people's devices in a single epoch change. Removes force an
 * UpdatePath, so removed leaves cannot follow into the next epoch.
 */
export async function changeMembers(
  ctx: MlsContext,
  state: GroupState,
  change: { add: KeyPackage[]; remove: number[] },
): Promise<ChangeMembersResult> {
  requireActive(state);
  if (change.add.length === 0 && change.remove.length === 0) throw new MlsLayerError('InvalidInput', 'no membership change');
  if (new Set(change.remove).size !== change.remove.length) {
    throw new MlsLayerError('InvalidInput', 'a member is named twice', { leafIndices: change.remove });
  }
  if (change.remove.includes(ownLeafIndex(state))) {
    throw new MlsLayerError('InvalidInput', 'a member cannot remove itself by commit', { leafIndex: ownLeafIndex(state) });
  }
  for (const keyPackage of change.add) await validateKeyPackage(ctx, keyPackage);
  const removed = change.remove.map((leafIndex) => memberAt(state.ratchetTree, leafIndex));
  const proposals: Proposal[] = [
    ...change.remove.map((removedLeaf): Proposal => ({ proposalType: 'remove', remove: { removed: removedLeaf } })),
    ...change.add.map((keyPackage): Proposal => ({ proposalType: 'add', add: { keyPackage } })),
  ];
  const result = await commit(ctx, state, proposals, 'changeMembers');
  const tree = result.newState.ratchetTree;
  const leafOf = leafIndexFinder(tree);
  const added = change.add.map((keyPackage) => {
    const leafIndex = leafOf(keyPackage.leafNode);
    if (leafIndex === undefined) throw new MlsLayerError('MlsRejected', 'changeMembers: added leaf not in tree');
    return memberAt(tree, leafIndex);
  });
  if (change.add.length > 0 && result.welcome === undefined) {
    throw new MlsLayerError('MlsRejected', 'changeMembers: ts-mls produced no Welcome');
  }
  return {
    newState: result.newState,
    commit: result.commit,
    consumed: result.consumed,
    added,
    removed,
    ...(result.welcome ? { welcome: encodeWelcomeMessage(result.welcome), ratchetTree: encodeRatchetTreeBytes(tree) } : {}),
  };
}

/** An empty commit, which carries an UpdatePath (RFC 9420 §12.4): fresh keys for our path. */
export async function selfUpdate(ctx: MlsContext, state: GroupState): Promise<CommitResult> {
  requireActive(state);
  const result = await commit(ctx, state, [], 'selfUpdate');
  return { newState: result.newState, commit: result.commit, consumed: result.consumed };
}

async function commit(ctx: MlsContext, state: GroupState, proposals: Proposal[], operation: string) {
  const result = await runMls(ctx, operation, (config) =>
    createCommit(
      { state: { ...state, clientConfig: config }, cipherSuite: ctx.suite.impl, pskIndex: emptyPskIndex },
      { extraProposals: proposals, ratchetTreeExtension: false, wireAsPublicMessage: false },
    ),
  );
  if (result.commit.wireformat !== 'mls_private_message') {
    throw new MlsLayerError('MlsRejected', `${operation}: commit was not a PrivateMessage`);
  }
  return {
    newState: settle(ctx, result.newState),
    commit: encodePrivateMessage(result.commit.privateMessage),
    welcome: result.welcome,
    consumed: result.consumed,
  };
}

export interface ProcessCommitResult {
  newState: GroupState;
  /** The authenticated committer, as it was in the previous epoch's tree. */
  committer: Member;
  added: Member[];
  removed: Member[];
  /** This commit removed us: `newState` can still read past epochs but is no longer active. */
  removedSelf: boolean;
  consumed: Uint8Array[];
}

/**
 * Applies a commit received from another member (RFC 9420 §12.4.2). Protocol v1 commits carry
 * Add and Remove proposals by value or none at all; anything else (PSK, ReInit, external init,
 * GroupContextExtensions, proposals by reference) is refused.
 */
export async function processCommit(ctx: MlsContext, state: GroupState, message: Uint8Array): Promise<ProcessCommitResult> {
  const pm = routePrivateMessage(state, message, 'commit');
  const opened = await checkAddsFirst(ctx, state, pm);
  let seen: { senderLeafIndex: number | undefined; proposals: ProposalWithSender[] } | undefined;
  let expiredAdd = false;
  let removesUs = false;
  let unsupported = false;
  const result = await runMls(ctx, 'processCommit', (config) =>
    processPrivateMessage({ ...state, clientConfig: config }, pm, emptyPskIndex, ctx.suite.impl, (incoming) => {
      if (incoming.kind !== 'commit') return 'reject';
      seen = { senderLeafIndex: incoming.senderLeafIndex, proposals: incoming.proposals };
      const supported = incoming.proposals.every(
        (p) => p.proposal.proposalType === 'add' || p.proposal.proposalType === 'remove',
      );
      // ts-mls does not check the lifetime of KeyPackages added by others (we run it with
      // validateLifetimeOnReceive off, since it would use Date.now()): check with our clock.
      expiredAdd = incoming.proposals.some((p) => {
        if (p.proposal.proposalType !== 'add') return false;
        try {
          checkKeyPackageLifetime(p.proposal.add.keyPackage, ctx.clock);
          return false;
        } catch {
          return true;
        }
      });
      // ts-mls 1.6.4 recognises its own removal only while its leaf stays blank; when the same
      // commit adds someone into that leaf, it tries to decrypt the UpdatePath and fails. The
      // commit is decrypted, signed by a member and its proposals validated by now, which is all
      // a removed member can check: stop here and record the removal ourselves.
      removesUs = incoming.proposals.some(
        (p) => p.proposal.proposalType === 'remove' && p.proposal.remove.removed === state.privatePath.leafIndex,
      );
      unsupported = !supported;
      return supported && !expiredAdd && !removesUs ? 'accept' : 'reject';
    }, opened),
  );
  if (result.kind !== 'newState' || seen === undefined) {
    throw new MlsLayerError('UnexpectedMessage', 'processCommit: not a commit');
  }
  if (result.actionTaken === 'reject' && removesUs && !expiredAdd && !unsupported && seen.senderLeafIndex !== undefined) {
    return {
      newState: settle(ctx, { ...state, unappliedProposals: {}, groupActiveState: { kind: 'removedFromGroup' } }),
      committer: memberAt(state.ratchetTree, seen.senderLeafIndex),
      added: [],
      removed: seen.proposals.flatMap(({ proposal }) =>
        proposal.proposalType === 'remove' ? [memberAt(state.ratchetTree, proposal.remove.removed)] : [],
      ),
      removedSelf: true,
      consumed: [],
    };
  }
  if (result.actionTaken === 'reject' && expiredAdd) {
    throw new MlsLayerError('KeyPackageExpired', 'processCommit: the commit adds a key package outside its lifetime');
  }
  if (result.actionTaken === 'reject') {
    throw new MlsLayerError('MlsRejected', 'processCommit: commit carries proposals protocol v1 does not use', {
      kind: 'UnsupportedProposal',
      proposalTypes: seen.proposals.map((p) => p.proposal.proposalType),
    });
  }
  if (seen.senderLeafIndex === undefined) {
    throw new MlsLayerError('MlsRejected', 'processCommit: committer is not a member', { kind: 'NonMemberCommit' });
  }
  const newState = settle(ctx, result.newState);
  const removed: Member[] = [];
  const added: Member[] = [];
  // Built only for a commit with Adds: it walks every leaf (1,000 at 1,000 members).
  let leafOf: ((leaf: LeafNode) => number | undefined) | undefined;
  for (const { proposal } of seen.proposals) {
    if (proposal.proposalType === 'remove') removed.push(memberAt(state.ratchetTree, proposal.remove.removed));
    if (proposal.proposalType === 'add') {
      leafOf ??= leafIndexFinder(newState.ratchetTree);
      const leafIndex = leafOf(proposal.add.keyPackage.leafNode);
      if (leafIndex !== undefined) added.push(memberAt(newState.ratchetTree, leafIndex));
    }
  }
  return {
    newState,
    committer: memberAt(state.ratchetTree, seen.senderLeafIndex),
    added,
    removed,
    removedSelf: newState.groupActiveState.kind === 'removedFromGroup',
    consumed: result.consumed,
  };
}

/**
 * ts-mls 1.6.4 checks a commit's Adds concurrently (an async reduce in clientState.js
 * `applyTreeMutations`): when two neighbouring Adds both fail, the first failure is never awaited
 * and escapes as an unhandled rejection (found by fuzzing). So each Add is checked here first,
 * one at a time, as ts-mls would check it (and lifetimes by our clock); a bad one is refused with
 * a typed error, and ts-mls only ever sees Adds that pass. The message opened here, from the
 * same state and config, is handed to ts-mls (our patch), so it is decrypted and checked once.
 */
async function checkAddsFirst(ctx: MlsContext, state: GroupState, pm: PrivateMessage): Promise<UnprotectResult> {
  const opened = await runMls(ctx, 'processCommit', (config) =>
    unprotectPrivateMessage(
      state.keySchedule.senderDataSecret,
      pm,
      state.secretTree,
      state.ratchetTree,
      state.groupContext,
      config.keyRetentionConfig,
      ctx.suite.impl,
    ),
  );
  const content = opened.content.content;
  if (content.contentType !== 'commit') return opened; // ts-mls refuses it below
  for (const p of content.commit.proposals) {
    if (p.proposalOrRefType !== 'proposal' || p.proposal.proposalType !== 'add') continue;
    const keyPackage = p.proposal.add.keyPackage;
    await validateKeyPackage(ctx, keyPackage);
    const { leafNode } = keyPackage;
    if (
      !extensionsSupportedByCapabilities(leafNode.extensions, leafNode.capabilities) ||
      bytesEqual(keyPackage.initKey, leafNode.hpkePublicKey)
    ) {
      throw new MlsLayerError('MlsRejected', 'processCommit: an added key package is malformed', { kind: 'InvalidKeyPackage' });
    }
  }
  return opened;
}

/**
 * Finds where leaf nodes sit in a tree, in one pass over it. ts-mls's `findLeafIndex` encodes
 * every leaf of the tree for each lookup, so looking up the n members of an Add commit cost
 * 2n^2 leaf encodings (seconds at 1,000). Signature keys are unique among a tree's leaves
 * (RFC 9420 §7.3; ts-mls checks it when it adds a leaf), so they index the leaves, and the one
 * candidate is then compared in full.
 */
function leafIndexFinder(tree: RatchetTree): (leaf: LeafNode) => number | undefined {
  const bySignatureKey = new Map<string, number>();
  for (let nodeIndex = 0; nodeIndex < tree.length; nodeIndex += 2) {
    const node = tree[nodeIndex];
    if (node?.nodeType === 'leaf') bySignatureKey.set(keyId(node.leaf.signaturePublicKey), nodeIndex / 2);
  }
  return (leaf) => {
    const leafIndex = bySignatureKey.get(keyId(leaf.signaturePublicKey));
    const node = leafIndex === undefined ? undefined : tree[leafIndex * 2];
    if (leafIndex === undefined || node?.nodeType !== 'leaf') return undefined;
    return bytesEqual(encodeLeafNode(node.leaf), encodeLeafNode(leaf)) ? leafIndex : undefined;
  };
}

function keyId(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Decodes a group message and checks what the clear framing says before any key is touched:
 * our group, an epoch we hold keys for, the expected content type. ts-mls does not route by group
 * id, and for a future epoch it would try the current keys and fail with a generic error.
 */
export function routePrivateMessage(
  state: GroupState,
  message: Uint8Array,
  expected: 'commit' | 'application',
): PrivateMessage {
  const pm = decodePrivateMessage(message);
  if (!bytesEqual(pm.groupId, state.groupContext.groupId)) {
    throw new MlsLayerError('WrongGroup', 'message is for another group', { epoch: pm.epoch });
  }
  if (pm.contentType !== expected) {
    throw new MlsLayerError('UnexpectedMessage', `expected ${expected}, got ${pm.contentType}`, {
      expected,
      actual: pm.contentType,
    });
  }
  const current = state.groupContext.epoch;
  const removed = state.groupActiveState.kind === 'removedFromGroup';
  if (expected === 'commit' && removed) {
    throw new MlsLayerError('NotMember', 'removed from this group', { epoch: pm.epoch, currentEpoch: current });
  }
  if (pm.epoch > current) {
    if (removed) throw new MlsLayerError('NotMember', 'removed from this group', { epoch: pm.epoch, currentEpoch: current });
    throw new MlsLayerError('FutureEpoch', 'message is from a later epoch', { epoch: pm.epoch, currentEpoch: current });
  }
  if (pm.epoch < current && (expected === 'commit' || !state.historicalReceiverData.has(pm.epoch))) {
    throw new MlsLayerError('StaleEpoch', 'message is from an epoch whose keys are gone', {
      epoch: pm.epoch,
      currentEpoch: current,
    });
  }
  return pm;
}

function requireActive(state: GroupState): void {
  if (state.groupActiveState.kind !== 'active') {
    throw new MlsLayerError('NotMember', 'this member can no longer send to the group', {
      state: state.groupActiveState.kind,
    });
  }
}

