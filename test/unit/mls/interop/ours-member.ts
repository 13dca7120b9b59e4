/**
 * A member of our implementation: src/mls's public API (over the patched ts-mls), as the engine
 * calls it, with an MlsContext of src/mls's suite, a live clock and the registry as our
 * Authentication Service. Our credential format (device AT-URI), our KeyPackages
 * (generateKeyPackage: basic credentials, our extensions, 30 days), PrivateMessage commits
 * (addMembers, removeMembers, changeMembers, selfUpdate; processCommit), joinGroup with the tree
 * beside the Welcome, application messages, the exporter, the epoch and the member list.
 *
 * The one thing the harness adds: for an OpenMLS joiner, the Welcome of an addMembers commit is
 * re-made with the tree in its GroupInfo (welcome-with-tree.ts); our joiners use src/mls's own.
 */
import {
  addMembers,
  changeMembers,
  createGroup,
  decodeKeyPackageMessage,
  decryptApplicationMessage,
  encryptApplicationMessage,
  epoch,
  exportSecret,
  generateKeyPackage,
  generateSignatureKeyPair,
  joinGroup,
  members,
  processCommit,
  removeMembers,
  selfUpdate,
  type GeneratedKeyPackage,
  type GroupState,
  type MlsContext,
  type SignatureKeyPair,
} from '../../../../src/mls';
import type { InteropIdentity, InteropRegistry } from './identities';
import { DecryptFailure, type CommitOutput, type CommitSeen, type Decrypted, type EpochView, type GroupMember } from './member';
import { welcomeWithTree } from './welcome-with-tree';

/** MLSMessage header of a KeyPackage (version mls10, wire format mls_key_package): core-crypto takes and gives the bare struct. */
const KEY_PACKAGE_HEADER = new Uint8Array([0, 1, 0, 5]);
const EMPTY = new Uint8Array(0);

export class OursMember implements GroupMember {
  readonly implementation = 'ours' as const;
  private state: GroupState | undefined;
  private pending: GeneratedKeyPackage | undefined;

  private constructor(
    readonly context: MlsContext,
    private readonly keys: SignatureKeyPair,
    readonly name: string,
    readonly id: InteropIdentity,
  ) {}

  static async create(ctx: MlsContext, name: string, id: InteropIdentity, registry: InteropRegistry): Promise<OursMember> {
    const keys = await generateSignatureKeyPair(ctx.suite);
    registry.register(id.identity, keys.publicKey);
    return new OursMember(ctx, keys, name, id);
  }

  /** This member's state, for tests that call src/mls directly. */
  get groupState(): GroupState {
    return this.current();
  }

  get active(): boolean {
    return this.state?.groupActiveState.kind === 'active';
  }

  async keyPackage(): Promise<Uint8Array> {
    this.pending = await generateKeyPackage(this.context, { identity: this.id.identity, signatureKeyPair: this.keys });
    return this.pending.encoded.subarray(KEY_PACKAGE_HEADER.length);
  }

  /** A conversation in the group context (§6.8) keeps OpenMLS members out (see the test file): none by default. */
  async createGroup(groupId: Uint8Array, conversation?: string): Promise<void> {
    const { keyPackage, privateKeyPackage } = this.takePending();
    this.state = await createGroup(this.context, { keyPackage, privateKeyPackage, groupId, ...(conversation ? { conversation } : {}) });
  }

  /** src/mls's Welcome with the tree beside it from our committers; OpenMLS's carries it in its GroupInfo. */
  async join(output: CommitOutput): Promise<void> {
    if (output.welcome === undefined) throw new Error('join: no Welcome');
    const { keyPackage, privateKeyPackage } = this.takePending();
    this.state = await joinGroup(this.context, {
      welcome: output.welcome,
      ...(output.ratchetTree ? { ratchetTree: output.ratchetTree } : {}),
      keyPackage,
      privateKeyPackage,
    });
  }

  async add(keyPackages: Uint8Array[]): Promise<CommitOutput> {
    const before = this.current();
    const packages = keyPackages.map(decodeKeyPackage);
    const result = await addMembers(this.context, before, packages);
    this.state = result.newState;
    return {
      commit: result.commit,
      welcome: result.welcome,
      ratchetTree: result.ratchetTree,
      welcomeWithTree: await welcomeWithTree(this.context, before, result.newState, result, packages),
    };
  }

  async remove(identities: string[]): Promise<CommitOutput> {
    const result = await removeMembers(this.context, this.current(), this.leavesOf(identities));
    this.state = result.newState;
    return { commit: result.commit };
  }

  /**
   * One commit that removes these members and adds these KeyPackages (changeMembers). It has an
   * UpdatePath, so its Welcome cannot be re-made with the tree (welcome-with-tree.ts): only our
   * members can join from it.
   */
  async change(keyPackages: Uint8Array[], identities: string[]): Promise<CommitOutput> {
    const result = await changeMembers(this.context, this.current(), {
      add: keyPackages.map(decodeKeyPackage),
      remove: this.leavesOf(identities),
    });
    this.state = result.newState;
    return { commit: result.commit, ...(result.welcome ? { welcome: result.welcome, ratchetTree: result.ratchetTree } : {}) };
  }

  async update(): Promise<CommitOutput> {
    const result = await selfUpdate(this.context, this.current());
    this.state = result.newState;
    return { commit: result.commit };
  }

  async processCommit(commit: Uint8Array): Promise<CommitSeen> {
    const result = await processCommit(this.context, this.current(), commit);
    this.state = result.newState;
    return {
      committer: result.committer.identity,
      added: result.added.map((m) => m.identity),
      removed: result.removed.map((m) => m.identity),
      removedSelf: result.removedSelf,
    };
  }

  async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    const result = await encryptApplicationMessage(this.context, this.current(), plaintext);
    this.state = result.newState;
    return result.message;
  }

  async decrypt(messages: Uint8Array[]): Promise<Decrypted[]> {
    const out: Decrypted[] = [];
    for (const [index, message] of messages.entries()) {
      const state = this.current();
      try {
        const result = await decryptApplicationMessage(this.context, state, message);
        // src/mls also opens retained past epochs; the runner only sends in the current one.
        if (result.epoch !== epoch(state)) throw new Error(`a message of epoch ${result.epoch}, not the current ${epoch(state)}`);
        this.state = result.newState;
        out.push({ plaintext: result.plaintext, sender: result.sender.identity });
      } catch (err) {
        throw new DecryptFailure(index, err);
      }
    }
    return out;
  }

  async view(): Promise<EpochView> {
    const state = this.current();
    return {
      epoch: epoch(state),
      exporterSecret: await exportSecret(this.context, state, 'exporter', EMPTY, 32),
      members: members(state).map((m) => m.identity),
    };
  }

  async dispose(): Promise<void> {
    this.state = undefined;
  }

  private leavesOf(identities: string[]): number[] {
    const present = members(this.current());
    return identities.map((identity) => {
      const member = present.find((m) => m.identity === identity);
      if (member === undefined) throw new Error(`${identity} is not a member`);
      return member.leafIndex;
    });
  }

  private current(): GroupState {
    if (this.state === undefined) throw new Error(`${this.name} is in no group`);
    return this.state;
  }

  private takePending(): GeneratedKeyPackage {
    const pending = this.pending;
    if (pending === undefined) throw new Error(`${this.name} has no KeyPackage to use`);
    this.pending = undefined;
    return pending;
  }
}

/** A bare KeyPackage struct (core-crypto's form) through src/mls's codec, with the MLSMessage header put back. */
function decodeKeyPackage(bytes: Uint8Array) {
  const message = new Uint8Array(KEY_PACKAGE_HEADER.length + bytes.length);
  message.set(KEY_PACKAGE_HEADER);
  message.set(bytes, KEY_PACKAGE_HEADER.length);
  return decodeKeyPackageMessage(message);
}
