/**
 * One OpenMLS client (core-crypto 9.3.4 in WebAssembly, its own IndexedDB database) as a group
 * member.
 *
 * Its ClientId is the member's device AT-URI, which core-crypto makes the identity of its basic
 * credential. Every conversation it creates or joins has the wire-format policy Ciphertext
 * (`WirePolicy.Ciphertext`: PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, so it sends PrivateMessage
 * commits and refuses PublicMessage ones, as src/mls does). What stays fixed inside core-crypto
 * (conversation/config.rs): its KeyPackages' capabilities (credential types basic + x509, no
 * extensions) and lifetime (~3 months), its own conversations' required capabilities (basic +
 * x509), the ratchet tree in the GroupInfo of its Welcomes, and a Welcome processed without a
 * tree beside it.
 *
 * core-crypto hands every commit it creates to an MlsTransport and merges it once the transport
 * accepted it, so the transport here just keeps the bundle for the caller.
 */
import type * as CC from '@wireapp/core-crypto-9/src/corecrypto.js';
import { loadCoreCrypto, type CoreCrypto9 } from './core-crypto-wasm';
import type { InteropIdentity, InteropRegistry } from './identities';
import { DecryptFailure, type CommitOutput, type CommitSeen, type Decrypted, type EpochView, type GroupMember } from './member';

const utf8 = new TextEncoder();
const text = new TextDecoder();

interface SentBundle {
  commit: Uint8Array;
  welcome: Uint8Array | undefined;
}

export class OpenMlsMember implements GroupMember {
  readonly implementation = 'openmls' as const;
  active = true;
  private groupId: Uint8Array | undefined;
  private readonly sent: SentBundle[] = [];
  /** The view read in the transaction that last changed the epoch, while no other transaction came since. */
  private lastView: EpochView | undefined;

  private constructor(
    private readonly cc: CoreCrypto9,
    private readonly core: CC.CoreCrypto,
    private readonly databaseName: string,
    private readonly suite: CC.Ciphersuite,
    readonly name: string,
    readonly id: InteropIdentity,
  ) {}

  /** Registers its signature key with `registry` (none for a ClientId that is not a device AT-URI, see the 10.3.0 tests). */
  static async create(name: string, id: InteropIdentity, registry: InteropRegistry | undefined): Promise<OpenMlsMember> {
    const cc = await loadCoreCrypto();
    const suite = cc.Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
    const databaseName = `atm-interop-${name}-${crypto.randomUUID()}`;
    const core = await cc.CoreCrypto.deferredInit({ databaseName, key: new cc.DatabaseKey(crypto.getRandomValues(new Uint8Array(32))) });
    const member = new OpenMlsMember(cc, core, databaseName, suite, name, id);
    await core.provideTransport({
      sendCommitBundle: async (bundle) => {
        // The Welcome object is moved into Rust when used: keep its bytes.
        member.sent.push({ commit: bundle.commit.slice(), welcome: bundle.welcome?.copyBytes() });
        return 'success';
      },
      sendMessage: async () => 'success',
      prepareForTransport: async () => new cc.MlsTransportData(new Uint8Array(0)),
    });
    await core.transaction((ctx) => ctx.mlsInit(new cc.ClientId(utf8.encode(id.identity)), [suite], 0));
    registry?.register(id.identity, await core.transaction((ctx) => ctx.clientPublicKey(suite, cc.CredentialType.Basic)));
    return member;
  }

  async keyPackage(): Promise<Uint8Array> {
    const [kp] = await this.tx((ctx) => ctx.clientKeypackages(this.suite, this.cc.CredentialType.Basic, 1));
    if (kp === undefined) throw new Error('core-crypto made no KeyPackage');
    return kp;
  }

  async createGroup(groupId: Uint8Array): Promise<void> {
    await this.tx((ctx) =>
      ctx.createConversation(this.conversation(groupId), this.cc.CredentialType.Basic, {
        ciphersuite: this.suite,
        wirePolicy: this.cc.WirePolicy.Ciphertext,
      }),
    );
    this.groupId = groupId.slice();
  }

  /** From the Welcome with the tree in its GroupInfo: core-crypto takes no tree beside it. */
  async join(output: CommitOutput): Promise<void> {
    const welcome = output.welcomeWithTree ?? output.welcome;
    if (welcome === undefined) throw new Error('join: no Welcome');
    const [groupId, view] = await this.tx(async (ctx) => {
      const bundle = await ctx.processWelcomeMessage(new this.cc.Welcome(welcome), { wirePolicy: this.cc.WirePolicy.Ciphertext });
      const id = bundle.id.copyBytes();
      return [id, await this.viewIn(ctx, id)] as const;
    });
    this.groupId = groupId;
    this.lastView = view;
  }

  add(keyPackages: Uint8Array[]): Promise<CommitOutput> {
    return this.commit((ctx, c) => ctx.addClientsToConversation(c, keyPackages).then(() => undefined));
  }

  remove(identities: string[]): Promise<CommitOutput> {
    return this.commit(async (ctx, c) => {
      // core-crypto removes nothing, silently, for a ClientId that is not a member.
      const present = (await ctx.getClientIds(c)).map((id) => text.decode(id.copyBytes()));
      const missing = identities.filter((i) => !present.includes(i));
      if (missing.length) throw new Error(`remove: ${missing.join(', ')} not members`);
      await ctx.removeClientsFromConversation(c, identities.map((i) => new this.cc.ClientId(utf8.encode(i))));
    });
  }

  update(): Promise<CommitOutput> {
    return this.commit((ctx, c) => ctx.updateKeyingMaterial(c));
  }

  async processCommit(commit: Uint8Array): Promise<CommitSeen | undefined> {
    const [result, view] = await this.tx(async (ctx) => {
      const decrypted = await ctx.decryptMessage(this.conv(), commit);
      if (decrypted.message !== undefined || !decrypted.hasEpochChanged) throw new Error('processCommit: the message was not a commit');
      return [decrypted, decrypted.isActive ? await this.viewIn(ctx) : undefined] as const;
    });
    if (!result.isActive) this.active = false;
    this.lastView = view;
    return undefined; // core-crypto does not say who committed what
  }

  encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.tx((ctx) => ctx.encryptMessage(this.conv(), plaintext));
  }

  decrypt(messages: Uint8Array[]): Promise<Decrypted[]> {
    return this.tx(async (ctx) => {
      const out: Decrypted[] = [];
      for (const [index, message] of messages.entries()) {
        try {
          const result = await ctx.decryptMessage(this.conv(), message);
          if (result.message === undefined || result.hasEpochChanged) throw new Error('not an application message');
          if (result.senderClientId === undefined) throw new Error('no sender');
          out.push({ plaintext: result.message, sender: text.decode(result.senderClientId.copyBytes()) });
        } catch (err) {
          throw new DecryptFailure(index, err);
        }
      }
      return out;
    });
  }

  /**
   * Each core-crypto transaction loads the whole group from its database (and stores it if it
   * changed), so the view is read in the transaction that moved to the epoch (commit, processed
   * commit, Welcome) when no other came since: the state it reads is the one a new transaction
   * would load.
   */
  async view(): Promise<EpochView> {
    const view = this.lastView;
    this.lastView = undefined;
    return view ?? this.tx((ctx) => this.viewIn(ctx));
  }

  private async viewIn(ctx: CC.CoreCryptoContext, groupId?: Uint8Array): Promise<EpochView> {
    const conversation = groupId === undefined ? this.conv() : this.conversation(groupId);
    return {
      epoch: BigInt(await ctx.conversationEpoch(conversation)),
      exporterSecret: (await ctx.exportSecretKey(conversation, 32)).copyBytes(),
      members: (await ctx.getClientIds(conversation)).map((c) => text.decode(c.copyBytes())),
    };
  }

  private tx<R>(body: (ctx: CC.CoreCryptoContext) => Promise<R>): Promise<R> {
    this.lastView = undefined;
    return this.core.transaction(body);
  }

  async dispose(): Promise<void> {
    await this.core.close();
    await new Promise<void>((resolve) => {
      const request = indexedDB.deleteDatabase(this.databaseName);
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    });
  }

  private async commit(op: (ctx: CC.CoreCryptoContext, conversation: CC.ConversationId) => Promise<void>): Promise<CommitOutput> {
    const before = this.sent.length;
    const view = await this.tx(async (ctx) => {
      await op(ctx, this.conv());
      return this.viewIn(ctx);
    });
    const bundle = this.sent[before];
    if (bundle === undefined || this.sent.length !== before + 1) throw new Error('core-crypto sent no commit bundle');
    this.lastView = view;
    return { commit: bundle.commit, ...(bundle.welcome ? { welcome: bundle.welcome } : {}) };
  }

  private conversation(groupId: Uint8Array): CC.ConversationId {
    return new this.cc.ConversationId(groupId);
  }

  private conv(): CC.ConversationId {
    if (this.groupId === undefined) throw new Error(`${this.name} is in no conversation`);
    return this.conversation(this.groupId);
  }
}
