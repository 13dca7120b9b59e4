import { describe, expect, it } from 'vitest';
import { acceptAll, createCommit, createProposal, emptyPskIndex, processPrivateMessage, type Hpke, type KeyPackage, type LeafNode, type Proposal } from 'ts-mls';
import { initializeEpoch, mlsExporter } from 'ts-mls/keySchedule.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { signWithLabel } from 'ts-mls/crypto/signature.js';
import { encodeLeafNodeTBS, signLeafNodeKeyPackage } from 'ts-mls/leafNode.js';
import { signKeyPackage } from 'ts-mls/keyPackage.js';
import {
  addMembers,
  changeMembers,
  decryptApplicationMessage,
  encryptApplicationMessage,
  epoch,
  epochAuthenticator,
  exportSecret,
  isActive,
  joinGroup,
  processCommit,
  removeMembers,
  selfUpdate,
  type ChangeMembersResult,
  type GroupState,
  type MlsContext,
} from '../../../src/mls';
import { decodePrivateMessage, encodePrivateMessage } from '../../../src/mls/messageCodec';
import { buildGroup, everyoneProcesses, hex, keyPackageFor, newDevice, registryAuth, rejection, text, utf8, type TestDevice } from './helpers';

// The MLS library is ts-mls 1.6.4 with patches/ts-mls+1.6.4.patch applied at install. These tests
// pin what this layer relies on from it: the RFC 9420 §12.4 UpdatePath rule (ts-mls 2.0.0-rc.10
// and 1.6.2 skip the path for a commit with a single Remove or Update), the other fixes 1.6.4
// carries, and the patch itself (the lazily derived secret tree).

const LABEL = 'atm envelope';
const CONTEXT = utf8('ctx');

async function exporter(ctx: MlsContext, state: GroupState): Promise<string> {
  return hex(await exportSecret(ctx, state, LABEL, CONTEXT, 32));
}

/**
 * The new epoch's exporter output as computed by someone who holds the previous epoch's state
 * (a removed member, or whoever stole the updater's old keys) and assumes the commit carried no
 * UpdatePath: then commit_secret is all zeros (RFC 9420 §8), and the new GroupContext is public
 * to any member of the previous epoch. A commit that correctly carries a path defeats this.
 */
async function exporterWithoutPath(ctx: MlsContext, previous: GroupState, next: GroupState): Promise<string> {
  const kdf = ctx.suite.impl.kdf;
  const zeros = new Uint8Array(kdf.size);
  const secrets = await initializeEpoch(previous.keySchedule.initSecret, zeros, next.groupContext, zeros, kdf);
  return hex(await mlsExporter(secrets.keySchedule.exporterSecret, LABEL, CONTEXT, 32, ctx.suite.impl));
}

/** Opens a commit's framing with a previous-epoch state, as any member of that epoch can. */
async function commitContent(ctx: MlsContext, reader: GroupState, commit: Uint8Array) {
  const opened = await unprotectPrivateMessage(
    reader.keySchedule.senderDataSecret,
    decodePrivateMessage(commit),
    reader.secretTree,
    reader.ratchetTree,
    reader.groupContext,
    reader.clientConfig.keyRetentionConfig,
    ctx.suite.impl,
  );
  if (opened.content.content.contentType !== 'commit') throw new Error('expected a commit');
  return opened.content.content.commit;
}

describe('the UpdatePath rule (RFC 9420 §12.4): a path for one or more Removes or Updates', () => {
  it('the check itself: without a path, a previous-epoch member would derive the new epoch (Add-only commit)', async () => {
    // Control for the tests below: an Add-only commit legitimately carries no path, and then the
    // simulation reproduces the group's exporter exactly. So when the tests below find it
    // differs, that is the UpdatePath at work, not a broken simulation.
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const erin = await newDevice('erin');
    const registry = registryAuth([...devices, erin]);
    const withErin = { ...ctx, auth: registry.auth };
    const add = await addMembers(withErin, states[0]!, [(await keyPackageFor(withErin, erin)).keyPackage]);
    expect((await commitContent(ctx, states[1]!, add.commit)).path).toBeUndefined();
    const bob = (await processCommit(withErin, states[1]!, add.commit)).newState;
    expect(await exporter(ctx, bob)).toBe(await exporter(ctx, add.newState));
    expect(await exporterWithoutPath(ctx, states[1]!, add.newState)).toBe(await exporter(ctx, add.newState));
  });

  it('a commit with a single Remove carries a path, and the removed member cannot derive the new epoch', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol', 'dave']);
    const carolBefore = states[2]!;
    const removal = await removeMembers(ctx, states[0]!, [2]);

    // Carol can still open the commit's framing (it is sent in her epoch) and sees the path.
    const content = await commitContent(ctx, carolBefore, removal.commit);
    expect(content.proposals).toHaveLength(1);
    expect(content.path).toBeDefined();

    // The remaining members agree on the new epoch; carol's best guess does not.
    const [, bob, , dave] = await everyoneProcesses(ctx, states, 0, removal);
    const group = await exporter(ctx, removal.newState);
    expect(await exporter(ctx, bob!)).toBe(group);
    expect(await exporter(ctx, dave!)).toBe(group);
    expect(await exporterWithoutPath(ctx, carolBefore, removal.newState)).not.toBe(group);
    expect(await exporter(ctx, carolBefore)).not.toBe(group);

    // Carol processes her own removal (a 1.6.4 fix: 1.6.2 threw trying to decrypt a path secret
    // that was never meant for her): she is marked removed and stays in the old epoch.
    const carol = await processCommit(ctx, carolBefore, removal.commit);
    expect(carol.removedSelf).toBe(true);
    expect(isActive(carol.newState)).toBe(false);
    expect(epoch(carol.newState)).toBe(epoch(carolBefore));
    expect(await exporter(ctx, carol.newState)).not.toBe(group);
    const after = await encryptApplicationMessage(ctx, bob!, utf8('without carol'));
    expect(text((await decryptApplicationMessage(ctx, dave!, after.message)).plaintext)).toBe('without carol');
    await expect(decryptApplicationMessage(ctx, carol.newState, after.message)).rejects.toThrow();
  });

  it('a commit with a single Update carries a path, and the old keys cannot derive the new epoch', async () => {
    // Protocol v1 never sends Update proposals (processCommit refuses them), so this drives
    // ts-mls directly: bob proposes an Update of his leaf, alice commits it by reference.
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const cs = ctx.suite.impl;
    const [alice, bob, carol] = states as [GroupState, GroupState, GroupState];
    const bobLeaf = bob.ratchetTree[2];
    if (bobLeaf?.nodeType !== 'leaf') throw new Error('expected bob at leaf 1');
    const fresh = await cs.hpke.generateKeyPair();
    const tbs = {
      ...bobLeaf.leaf,
      leafNodeSource: 'update' as const,
      hpkePublicKey: await cs.hpke.exportPublicKey(fresh.publicKey),
      groupId: bob.groupContext.groupId,
      leafIndex: 1,
    };
    const leafNode = {
      ...tbs,
      signature: await signWithLabel(bob.signaturePrivateKey, 'LeafNodeTBS', encodeLeafNodeTBS(tbs), cs.signature),
    } as LeafNode & { leafNodeSource: 'update' };
    const proposal = await createProposal(bob, false, { proposalType: 'update', update: { leafNode } }, cs);
    if (proposal.message.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    const proposalBytes = encodePrivateMessage(proposal.message.privateMessage);
    const received = async (s: GroupState) =>
      (await processPrivateMessage(s, decodePrivateMessage(proposalBytes), emptyPskIndex, cs, acceptAll)).newState;
    const aliceWithProposal = await received(alice);
    const carolWithProposal = await received(carol);

    const commit = await createCommit({ state: aliceWithProposal, cipherSuite: cs, pskIndex: emptyPskIndex }, {});
    if (commit.commit.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    const commitBytes = encodePrivateMessage(commit.commit.privateMessage);
    const content = await commitContent(ctx, carolWithProposal, commitBytes);
    expect(content.proposals.map((p) => p.proposalOrRefType)).toEqual(['reference']);
    expect(content.path).toBeDefined();

    const carolAfter = await processPrivateMessage(carolWithProposal, decodePrivateMessage(commitBytes), emptyPskIndex, cs, acceptAll);
    if (carolAfter.kind !== 'newState') throw new Error('expected a new state');
    const group = await exporter(ctx, commit.newState);
    expect(await exporter(ctx, carolAfter.newState)).toBe(group);
    expect(hex(epochAuthenticator(carolAfter.newState))).toBe(hex(epochAuthenticator(commit.newState)));
    // Whoever holds bob's state from before the Update (the compromise the Update heals) cannot.
    expect(await exporterWithoutPath(ctx, bob, commit.newState)).not.toBe(group);
  });
});

describe('other fixes ts-mls 1.6.4 carries over 1.6.2', () => {
  it('excludes members added by the same commit from the path: all follow an Add + Remove commit', async () => {
    // With new members left in the path's resolution (1.6.2), the committer encrypts to them and
    // existing members pick the wrong ciphertext. Our removeMembers/addMembers never combine the
    // two, so the commit is made with ts-mls directly; processCommit accepts Add and Remove.
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol', 'dave', 'frank']);
    const erin = await newDevice('erin');
    const registry = registryAuth([...devices, erin]);
    const withErin = { ...ctx, auth: registry.auth };
    const erinPackage = await keyPackageFor(withErin, erin);
    const commit = await createCommit(
      { state: { ...states[0]!, clientConfig: { ...states[0]!.clientConfig, authService: { validateCredential: async () => true } } }, cipherSuite: ctx.suite.impl, pskIndex: emptyPskIndex },
      {
        extraProposals: [
          { proposalType: 'remove', remove: { removed: 2 } },
          { proposalType: 'add', add: { keyPackage: erinPackage.keyPackage } },
        ],
      },
    );
    if (commit.commit.wireformat !== 'mls_private_message' || commit.welcome === undefined) throw new Error('expected a commit and a Welcome');
    const commitBytes = encodePrivateMessage(commit.commit.privateMessage);
    expect((await commitContent(ctx, states[1]!, commitBytes)).path).toBeDefined();
    const group = hex(epochAuthenticator(commit.newState));
    for (const i of [1, 3, 4]) {
      const processed = await processCommit(withErin, states[i]!, commitBytes);
      expect(processed.added.map((m) => m.identity)).toEqual([erin.identity]);
      expect(hex(epochAuthenticator(processed.newState))).toBe(group);
    }
    const { encodeWelcomeMessage, encodeRatchetTreeBytes } = await import('../../../src/mls/messageCodec');
    const erinState = await joinGroup(withErin, {
      welcome: encodeWelcomeMessage(commit.welcome),
      ratchetTree: encodeRatchetTreeBytes(commit.newState.ratchetTree),
      keyPackage: erinPackage.keyPackage,
      privateKeyPackage: erinPackage.privateKeyPackage,
    });
    expect(hex(epochAuthenticator(erinState))).toBe(group);
  });
});

describe('the patch: a secret tree derived lazily (from ts-mls 2.0.0-rc.10)', () => {
  it('derives no leaf until it sends or is received from, and only that leaf then', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol', 'dave', 'erin']);
    const tree = states[1]!.secretTree;
    expect(tree.leafWidth).toBe(8); // ts-mls extends the tree to a power of two
    expect(Object.keys(tree.leafNodes)).toEqual([]);
    expect(Object.keys(tree.intermediateNodes)).toHaveLength(1);

    const sent = await encryptApplicationMessage(ctx, states[3]!, utf8('hello'));
    expect(Object.keys(sent.newState.secretTree.leafNodes).map(Number)).toEqual([6]);
    const got = await decryptApplicationMessage(ctx, states[1]!, sent.message);
    expect(text(got.plaintext)).toBe('hello');
    expect(Object.keys(got.newState.secretTree.leafNodes).map(Number)).toEqual([6]);
    // The consumed secrets include the intermediate nodes the derivation went through.
    expect(got.consumed.length).toBeGreaterThan(2);
  });

  it('remembers leaf hashes per LeafNode object: tree hashes still match fresh copies and the group context', async () => {
    const { treeHashRoot } = await import('ts-mls/treeHash.js');
    const { decodeRatchetTreeBytes, encodeRatchetTreeBytes } = await import('../../../src/mls/messageCodec');
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol', 'dave']);
    let group = states;
    for (const committer of [0, 2, 0]) {
      group = await everyoneProcesses(ctx, group, committer, await selfUpdate(ctx, group[committer]!));
    }
    for (const s of group) {
      const cached = await treeHashRoot(s.ratchetTree, ctx.suite.impl.hash);
      const fresh = await treeHashRoot(decodeRatchetTreeBytes(encodeRatchetTreeBytes(s.ratchetTree)), ctx.suite.impl.hash);
      expect(hex(cached)).toBe(hex(fresh));
      expect(hex(cached)).toBe(hex(s.groupContext.treeHash));
    }
  });

  it('refuses a sender leaf index outside the tree instead of walking past its root', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const { ratchetToGeneration } = await import('ts-mls/secretTree.js');
    const senderData = { leafIndex: 7, generation: 0, reuseGuard: new Uint8Array(4) as Uint8Array & { length: 4 } };
    await expect(
      ratchetToGeneration(states[0]!.secretTree, senderData, 'application', states[0]!.clientConfig.keyRetentionConfig, ctx.suite.impl),
    ).rejects.toThrow(/outside the secret tree/);
  });
});

/** `ctx` with some of its HPKE operations replaced (each replacement can call the original). */
function withHpke(ctx: MlsContext, replace: (hpke: Hpke) => Partial<Hpke>): MlsContext {
  const hpke = ctx.suite.impl.hpke;
  return { ...ctx, suite: { ...ctx.suite, impl: { ...ctx.suite.impl, hpke: { ...hpke, ...replace(hpke) } } } };
}

/**
 * A commit made by ts-mls with our layer's checks skipped and, unless `equality` is given, its
 * own: the AS trusts everyone. For commits an honest committer would never make.
 */
async function commitWithoutChecks(
  state: GroupState,
  ctx: MlsContext,
  proposals: Proposal[],
  equality = state.clientConfig.keyPackageEqualityConfig,
): Promise<Uint8Array> {
  const clientConfig = { ...state.clientConfig, keyPackageEqualityConfig: equality, authService: { validateCredential: async () => true } };
  const commit = await createCommit({ state: { ...state, clientConfig }, cipherSuite: ctx.suite.impl, pskIndex: emptyPskIndex }, { extraProposals: proposals });
  if (commit.commit.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
  return encodePrivateMessage(commit.commit.privateMessage);
}

/**
 * A committer that publishes, for every key pair it derives, the public key of another secret.
 * Its parent hashes and signatures cover those keys, so only the RFC 9420 §7.5 check can tell.
 */
const lyingAbout = (ctx: MlsContext): MlsContext =>
  withHpke(ctx, (hpke) => ({
    deriveKeyPair: async (ikm) => {
      const real = await hpke.deriveKeyPair(ikm);
      const other = await hpke.deriveKeyPair(ikm.map((b, i) => (i === 0 ? b ^ 1 : b)));
      return { privateKey: real.privateKey, publicKey: other.publicKey };
    },
  }));

describe('the patch: derived public keys must match the tree (RFC 9420 §7.5, §12.4.3.1)', () => {
  it('members refuse a commit whose path keys do not come from its path secrets, and accept the honest one', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol', 'dave']);
    const bad = await selfUpdate(lyingAbout(ctx), states[0]!);
    for (const member of [1, 2, 3]) {
      const err = await rejection(() => processCommit(ctx, states[member]!, bad.commit));
      expect(err.code).toBe('MlsRejected');
      expect(err.message).toMatch(/does not match its path secret/);
    }
    const honest = await selfUpdate(ctx, states[0]!);
    const [, bob] = await everyoneProcesses(ctx, states, 0, honest);
    expect(await exporter(ctx, bob!)).toBe(await exporter(ctx, honest.newState));
  });

  it('a new member refuses a Welcome whose path secret does not match the tree, and joins from the honest one', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol', 'dave']);
    const erin = await newDevice('erin');
    const withErin = { ...ctx, auth: registryAuth([...devices, erin]).auth };
    const erinPackage = await keyPackageFor(withErin, erin);
    const join = (change: ChangeMembersResult) =>
      joinGroup(withErin, {
        welcome: change.welcome!,
        ratchetTree: change.ratchetTree!,
        keyPackage: erinPackage.keyPackage,
        privateKeyPackage: erinPackage.privateKeyPackage,
      });
    // Adding and removing in one commit gives it a path, so the Welcome carries a path secret.
    const bad = await changeMembers(lyingAbout(withErin), states[0]!, { add: [erinPackage.keyPackage], remove: [2] });
    expect(bad.welcome).toBeDefined();
    const err = await rejection(() => join(bad));
    expect(err.code).toBe('MlsRejected');
    expect(err.message).toMatch(/does not match its path secret/);
    const honest = await changeMembers(withErin, states[0]!, { add: [erinPackage.keyPackage], remove: [2] });
    expect(await exporter(ctx, await join(honest))).toBe(await exporter(ctx, honest.newState));
  });
});

describe('the patch: duplicate Adds found through a set of signature keys', () => {
  // The committer below checks nothing (its equality never matches), so ts-mls makes the commit;
  // the members' side, with the default equality, must refuse it as 1.6.4's pairwise checks did.
  const never = { compareKeyPackages: () => false, compareKeyPackageToLeafNode: () => false };
  const add = (keyPackage: KeyPackage): Proposal => ({ proposalType: 'add', add: { keyPackage } });

  it('refuses a commit that adds the same client twice', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const erin = await newDevice('erin');
    const withErin = { ...ctx, auth: registryAuth([...devices, erin]).auth };
    const first = await keyPackageFor(withErin, erin);
    const second = await keyPackageFor(withErin, erin); // another KeyPackage, the same signature key
    const commit = await commitWithoutChecks(states[0]!, withErin, [add(first.keyPackage), add(second.keyPackage)], never);
    const err = await rejection(() => processCommit(withErin, states[1]!, commit));
    expect(err.code).toBe('MlsRejected');
    expect(err.message).toMatch(/multiple Add proposals/);
  });

  it('refuses a commit that adds a member already in the group, and accepts it when the same commit removes them', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const bobAgain = await keyPackageFor(ctx, devices[1]!);
    const readd = await commitWithoutChecks(states[0]!, ctx, [add(bobAgain.keyPackage)], never);
    const err = await rejection(() => processCommit(ctx, states[2]!, readd));
    expect(err.code).toBe('MlsRejected');
    expect(err.message).toMatch(/already in the group/);

    const replace = await commitWithoutChecks(states[0]!, ctx, [{ proposalType: 'remove', remove: { removed: 1 } }, add(bobAgain.keyPackage)], never);
    const carol = await processCommit(ctx, states[2]!, replace);
    expect(carol.removed.map((m) => m.identity)).toEqual([devices[1]!.identity]);
    expect(carol.added.map((m) => m.identity)).toEqual([devices[1]!.identity]);
  });
});

describe('the patch: a commit is opened once', () => {
  it('processCommit decrypts a commit once (its Adds are checked on the same opened message ts-mls then uses)', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    let decryptions = 0;
    const counting = withHpke(ctx, (hpke) => ({ decryptAead: async (...args) => (decryptions++, hpke.decryptAead(...args)) }));
    const update = await selfUpdate(ctx, states[0]!);
    const bob = await processCommit(counting, states[1]!, update.commit);
    // One AEAD decryption for the sender data, one for the content (it was four).
    expect(decryptions).toBe(2);
    expect(await exporter(ctx, bob.newState)).toBe(await exporter(ctx, update.newState));
  });
});

describe('the patch: encryption keys unique among the members (RFC 9420 §7.3)', () => {
  /** A KeyPackage of `device` that carries `hpkePublicKey` as its leaf's encryption key, validly signed. */
  async function withEncryptionKey(ctx: MlsContext, device: TestDevice, hpkePublicKey: Uint8Array): Promise<KeyPackage> {
    const { keyPackage } = await keyPackageFor(ctx, device);
    const { signature: _leafSignature, ...leafTbs } = keyPackage.leafNode;
    const leafNode = await signLeafNodeKeyPackage({ ...leafTbs, hpkePublicKey }, device.keys.signKey, ctx.suite.impl.signature);
    const { signature: _signature, ...tbs } = keyPackage;
    return signKeyPackage({ ...tbs, leafNode }, device.keys.signKey, ctx.suite.impl.signature);
  }
  const leafKey = (state: GroupState, leafIndex: number): Uint8Array => {
    const node = state.ratchetTree[leafIndex * 2];
    if (node?.nodeType !== 'leaf') throw new Error(`no leaf ${leafIndex}`);
    return node.leaf.hpkePublicKey;
  };

  it('refuses to add a leaf that reuses a member\'s encryption key, or two leaves sharing one', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob', 'carol']);
    const [erin, frank] = [await newDevice('erin'), await newDevice('frank')];
    const withThem = { ...ctx, auth: registryAuth([...devices, erin, frank]).auth };
    // Made by the committer's own ts-mls, which now refuses too.
    const reuse = { proposalType: 'add' as const, add: { keyPackage: await withEncryptionKey(withThem, erin, leafKey(states[0]!, 2)) } };
    await expect(commitWithoutChecks(states[0]!, withThem, [reuse])).rejects.toThrow(/encryption key is already in the tree/);
    const err = await rejection(() => addMembers(withThem, states[0]!, [reuse.add.keyPackage]));
    expect(err.code).toBe('MlsRejected');

    const erinPackage = (await keyPackageFor(withThem, erin)).keyPackage;
    const frankSharing = await withEncryptionKey(withThem, frank, erinPackage.leafNode.hpkePublicKey);
    const both = await rejection(() => addMembers(withThem, states[0]!, [erinPackage, frankSharing]));
    expect(both.message).toMatch(/two Add proposals with the same encryption key/);
    // Each alone is fine.
    expect((await addMembers(withThem, states[0]!, [erinPackage])).added).toHaveLength(1);
  });

  it('members refuse a commit whose new leaf takes another member\'s encryption key', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const carolKey = await ctx.suite.impl.hpke.importPublicKey(leafKey(states[2]!, 2));
    let derived = 0;
    // The committer's first derived key pair is its new leaf's (ts-mls createUpdatePath).
    const stealing = withHpke(ctx, (hpke) => ({
      deriveKeyPair: async (ikm) => {
        const pair = await hpke.deriveKeyPair(ikm);
        return derived++ === 0 ? { privateKey: pair.privateKey, publicKey: carolKey } : pair;
      },
    }));
    const bad = await selfUpdate(stealing, states[0]!);
    const err = await rejection(() => processCommit(ctx, states[1]!, bad.commit));
    expect(err.code).toBe('MlsRejected');
    expect(err.message).toMatch(/encryption key is already in the tree/);
  });
});
