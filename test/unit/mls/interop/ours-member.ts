/**
 * A member of our implementation: the patched ts-mls under src/mls, with src/mls's cipher suite
 * (its SHA-256/HKDF, lazy HPKE and caching signature provider), its ClientConfig (key retention,
 * lifetimes, padding, key-package equality) and, where it can talk to core-crypto 10.3.0, its
 * public API: signature keys, KeyPackage/Welcome/MLSMessage codecs, encryptApplicationMessage,
 * exportSecret, epoch, and its message routing for decryption.
 *
 * Three things of src/mls's API cannot meet core-crypto 10.3.0, so this member does them with the
 * same library calls src/mls makes, changed only where core-crypto differs (README.md here):
 *  - credentials: Wire client ids carrying our device AT-URI (identities.ts), so the AS is the
 *    registry's, not toTsMlsAuthService (which takes device AT-URIs only) — createGroup, join,
 *    commits and the member list read the tree directly for that reason;
 *  - commits are PublicMessages (core-crypto's wire policy is fixed to plaintext) and processed
 *    with processPublicMessage, where src/mls makes and takes PrivateMessages only;
 *  - Welcomes carry the ratchet tree in their GroupInfo (core-crypto cannot take a tree beside
 *    the Welcome), where src/mls sends it beside.
 * The proposal policy of src/mls's processCommit is kept: only Add and Remove by value, and a
 * member that a commit removes records its removal instead of applying the commit.
 */
import {
  createCommit,
  createGroup as tsCreateGroup,
  emptyPskIndex,
  generateKeyPackageWithKey,
  joinGroup as tsJoinGroup,
  processPublicMessage,
  type ClientConfig,
  type KeyPackage,
  type PrivateKeyPackage,
  type Proposal,
} from 'ts-mls';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import {
  DEFAULT_KEY_PACKAGE_LIFETIME_MS,
  KEY_PACKAGE_BACKDATE_MS,
  decodeKeyPackageMessage,
  encodeKeyPackageMessage,
  encryptApplicationMessage,
  epoch,
  exportSecret,
  generateSignatureKeyPair,
  type GroupState,
  type MlsContext,
  type SignatureKeyPair,
} from '../../../../src/mls';
import { clientConfigFor } from '../../../../src/mls/context';
import { routePrivateMessage } from '../../../../src/mls/group';
import { deviceCapabilities } from '../../../../src/mls/keyPackage';
import { decodeMessage, decodeWelcomeMessage, encodeMessage, encodeWelcomeMessage } from '../../../../src/mls/messageCodec';
import type { InteropIdentity, InteropRegistry } from './identities';
import type { CommitOutput, GroupMember } from './member';

/** MLSMessage header of a KeyPackage (version mls10, wire format mls_key_package): core-crypto takes the bare struct. */
const KEY_PACKAGE_HEADER = new Uint8Array([0, 1, 0, 5]);
const EMPTY = new Uint8Array(0);

export class OursMember implements GroupMember {
  readonly implementation = 'ours' as const;
  private state: GroupState | undefined;
  private pending: { keyPackage: KeyPackage; privateKeyPackage: PrivateKeyPackage } | undefined;
  private readonly config: ClientConfig;

  private constructor(
    private readonly ctx: MlsContext,
    private readonly keys: SignatureKeyPair,
    registry: InteropRegistry,
    readonly name: string,
    readonly id: InteropIdentity,
  ) {
    this.config = {
      ...clientConfigFor(ctx),
      authService: {
        validateCredential: async (credential, signaturePublicKey) =>
          credential.credentialType === 'basic' && registry.trusts(credential.identity, signaturePublicKey),
      },
    };
  }

  static async create(ctx: MlsContext, name: string, id: InteropIdentity, registry: InteropRegistry): Promise<OursMember> {
    const keys = await generateSignatureKeyPair(ctx.suite);
    registry.register(id.identity, keys.publicKey);
    return new OursMember(ctx, keys, registry, name, id);
  }

  /** This member's state and context, for tests that call src/mls directly (see the known-gap tests). */
  get groupState(): GroupState {
    return this.current();
  }

  get context(): MlsContext {
    return this.ctx;
  }

  get active(): boolean {
    return this.state?.groupActiveState.kind === 'active';
  }

  async keyPackage(): Promise<Uint8Array> {
    const now = this.ctx.clock.now();
    const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
      { credentialType: 'basic', identity: new TextEncoder().encode(this.id.identity) },
      // core-crypto's groups require support for x509 credentials too (RequiredCapabilities basic + x509).
      { ...deviceCapabilities(), credentials: ['basic', 'x509'] },
      { notBefore: seconds(now - KEY_PACKAGE_BACKDATE_MS), notAfter: seconds(now + DEFAULT_KEY_PACKAGE_LIFETIME_MS) },
      [],
      this.keys,
      this.ctx.suite.impl,
    );
    this.pending = { keyPackage: publicPackage, privateKeyPackage: privatePackage };
    return encodeKeyPackageMessage(publicPackage).subarray(KEY_PACKAGE_HEADER.length);
  }

  async createGroup(groupId: Uint8Array): Promise<void> {
    const { keyPackage, privateKeyPackage } = this.takePending();
    this.state = await tsCreateGroup(groupId, keyPackage, privateKeyPackage, [], this.ctx.suite.impl, this.config);
  }

  async join(welcome: Uint8Array): Promise<void> {
    const { keyPackage, privateKeyPackage } = this.takePending();
    // No tree beside the Welcome: ts-mls takes it from the GroupInfo's ratchet_tree extension.
    this.state = await tsJoinGroup(
      decodeWelcomeMessage(welcome),
      keyPackage,
      privateKeyPackage,
      emptyPskIndex,
      this.ctx.suite.impl,
      undefined,
      undefined,
      this.config,
    );
  }

  add(keyPackages: Uint8Array[]): Promise<CommitOutput> {
    return this.commit(
      keyPackages.map((bytes) => ({
        proposalType: 'add',
        add: { keyPackage: decodeKeyPackageMessage(concat(KEY_PACKAGE_HEADER, bytes)) },
      })),
    );
  }

  remove(identities: string[]): Promise<CommitOutput> {
    const leaves = identities.map((identity) => {
      const leaf = this.leaves().find((l) => l.identity === identity);
      if (leaf === undefined) throw new Error(`remove: ${identity} is not a member`);
      return leaf.leafIndex;
    });
    return this.commit(leaves.map((removed) => ({ proposalType: 'remove', remove: { removed } })));
  }

  update(): Promise<CommitOutput> {
    return this.commit([]);
  }

  async processCommit(bytes: Uint8Array): Promise<void> {
    const state = this.current();
    const message = decodeMessage(bytes);
    if (message.wireformat !== 'mls_public_message') throw new Error(`processCommit: a ${message.wireformat}, not a PublicMessage`);
    const content = message.publicMessage.content;
    if (content.contentType !== 'commit') throw new Error(`processCommit: a ${content.contentType}, not a commit`);
    const ownLeaf = state.privatePath.leafIndex;
    const removesUs = content.commit.proposals.some(
      (p) => p.proposalOrRefType === 'proposal' && p.proposal.proposalType === 'remove' && p.proposal.remove.removed === ownLeaf,
    );
    if (removesUs) {
      // As src/mls's processCommit does: the removed member stops at the old epoch.
      this.state = { ...state, unappliedProposals: {}, groupActiveState: { kind: 'removedFromGroup' } };
      return;
    }
    const result = await processPublicMessage(state, message.publicMessage, emptyPskIndex, this.ctx.suite.impl, (incoming) =>
      incoming.kind === 'commit' &&
      incoming.proposals.every((p) => p.proposal.proposalType === 'add' || p.proposal.proposalType === 'remove')
        ? 'accept'
        : 'reject',
    );
    if (result.actionTaken !== 'accept') throw new Error('processCommit: the commit carries proposals protocol v1 does not use');
    this.state = { ...result.newState, clientConfig: this.config };
  }

  async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    const result = await encryptApplicationMessage(this.ctx, this.current(), plaintext);
    this.state = { ...result.newState, clientConfig: this.config };
    return result.message;
  }

  /**
   * src/mls's decryptApplicationMessage, but returning the sender's identity instead of failing on
   * it (its memberAt takes device AT-URIs only): same routing, same unprotect call.
   */
  async decrypt(message: Uint8Array): Promise<Uint8Array> {
    const state = this.current();
    const pm = routePrivateMessage(state, message, 'application');
    if (pm.epoch !== state.groupContext.epoch) throw new Error(`decrypt: a message of epoch ${pm.epoch}, not the current one`);
    const result = await unprotectPrivateMessage(
      state.keySchedule.senderDataSecret,
      pm,
      state.secretTree,
      state.ratchetTree,
      state.groupContext,
      this.config.keyRetentionConfig,
      this.ctx.suite.impl,
    );
    const content = result.content.content;
    if (content.contentType !== 'application' || content.sender.senderType !== 'member') {
      throw new Error('decrypt: not an application message from a member');
    }
    this.state = { ...state, secretTree: result.tree };
    return content.applicationData.slice();
  }

  async epoch(): Promise<bigint> {
    return epoch(this.current());
  }

  exporterSecret(): Promise<Uint8Array> {
    return exportSecret(this.ctx, this.current(), 'exporter', EMPTY, 32);
  }

  async memberIdentities(): Promise<string[]> {
    return this.leaves().map((l) => l.identity);
  }

  dispose(): void {
    this.state = undefined;
  }

  private async commit(proposals: Proposal[]): Promise<CommitOutput> {
    const result = await createCommit(
      { state: this.current(), cipherSuite: this.ctx.suite.impl, pskIndex: emptyPskIndex },
      { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: true },
    );
    this.state = { ...result.newState, clientConfig: this.config };
    return { commit: encodeMessage(result.commit), ...(result.welcome ? { welcome: encodeWelcomeMessage(result.welcome) } : {}) };
  }

  private leaves(): { leafIndex: number; identity: string }[] {
    const tree = this.current().ratchetTree;
    const out: { leafIndex: number; identity: string }[] = [];
    for (let i = 0; i < tree.length; i += 2) {
      const node = tree[i];
      if (node?.nodeType !== 'leaf') continue;
      const credential = node.leaf.credential;
      out.push({ leafIndex: i / 2, identity: credential.credentialType === 'basic' ? new TextDecoder().decode(credential.identity) : '(not basic)' });
    }
    return out;
  }

  private current(): GroupState {
    if (this.state === undefined) throw new Error(`${this.name} is in no group`);
    return this.state;
  }

  private takePending() {
    const pending = this.pending;
    if (pending === undefined) throw new Error(`${this.name} has no KeyPackage to use`);
    this.pending = undefined;
    return pending;
  }
}

function seconds(ms: number): bigint {
  return BigInt(Math.floor(ms / 1000));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
