/**
 * One OpenMLS client (core-crypto 10.3.0 in WebAssembly, in-memory database) as a group member.
 *
 * core-crypto hands every commit it creates to an MlsTransport and merges it once the transport
 * accepted it, so the transport here just keeps the bundle for the caller. Its conversation
 * configuration is fixed (cipher suite from the credential, wire policy Plaintext, ratchet tree
 * in the GroupInfo, required capabilities basic + x509): nothing of it can be set through the API.
 */
import type * as CC from '@wireapp/core-crypto/browser';
import { loadCoreCrypto } from './core-crypto-wasm';
import type { InteropIdentity, InteropRegistry } from './identities';
import type { CommitOutput, GroupMember } from './member';

/** ts-mls refuses KeyPackages whose lifetime spans more than ~30 days (our lifetimeConfig); core-crypto's default is ~3 months. */
const KEY_PACKAGE_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

const utf8 = new TextDecoder();

export class OpenMlsMember implements GroupMember {
  readonly implementation = 'openmls' as const;
  active = true;
  private conversation: CC.ConversationId | undefined;
  private readonly sent: CC.CommitBundle[] = [];

  private constructor(
    private readonly cc: typeof CC,
    private readonly core: CC.CoreCrypto,
    private readonly credential: CC.CredentialRef,
    readonly name: string,
    readonly id: InteropIdentity,
  ) {}

  static async create(name: string, id: InteropIdentity, registry: InteropRegistry): Promise<OpenMlsMember> {
    const cc = await loadCoreCrypto();
    const core = cc.CoreCrypto.new(await cc.Database.inMemory());
    const clientId = new cc.ClientId(new cc.Uuid(id.uuid), new cc.DeviceId(id.deviceId), id.identity.slice(id.identity.indexOf('@') + 1));
    if (utf8.decode(clientId.copyBytes()) !== id.identity) throw new Error(`core-crypto formats the client id differently: ${utf8.decode(clientId.copyBytes())}`);
    let member: OpenMlsMember | undefined;
    const transport: CC.MlsTransport = {
      sendCommitBundle: async (bundle) => void member!.sent.push(bundle),
      prepareForTransport: async () => new Uint8Array(0),
    };
    await core.transaction((ctx) => ctx.mlsInit(clientId, transport));
    const credential = await core.transaction((ctx) =>
      ctx.addCredential(cc.Credential.basic(cc.CipherSuite.Mls128Dhkemx25519Aes128gcmSha256Ed25519, clientId)),
    );
    registry.register(id.identity, await core.publicKey(credential));
    member = new OpenMlsMember(cc, core, credential, name, id);
    return member;
  }

  async keyPackage(): Promise<Uint8Array> {
    const kp = await this.core.transaction((ctx) => ctx.generateKeyPackage(this.credential, KEY_PACKAGE_LIFETIME_MS));
    return kp.serialize();
  }

  async createGroup(groupId: Uint8Array): Promise<void> {
    const conversation = new this.cc.ConversationId(groupId);
    await this.core.transaction((ctx) => ctx.createConversation(conversation, this.credential));
    this.conversation = conversation;
  }

  async join(welcome: Uint8Array): Promise<void> {
    this.conversation = await this.core.transaction((ctx) => ctx.processWelcomeMessage(new this.cc.Welcome(welcome)));
  }

  add(keyPackages: Uint8Array[]): Promise<CommitOutput> {
    return this.commit((ctx, c) => ctx.addClientsToConversation(c, keyPackages.map((kp) => new this.cc.KeyPackage(kp))));
  }

  async remove(identities: string[]): Promise<CommitOutput> {
    // core-crypto removes by ClientId; take its own objects for them rather than rebuilding them.
    const clients = (await this.core.transaction((ctx) => ctx.getClientIds(this.conv()))).filter((c) =>
      identities.includes(utf8.decode(c.copyBytes())),
    );
    if (clients.length !== identities.length) throw new Error(`remove: not all of ${identities.join(', ')} are members`);
    return this.commit((ctx, c) => ctx.removeClientsFromConversation(c, clients));
  }

  update(): Promise<CommitOutput> {
    return this.commit((ctx, c) => ctx.updateKeyingMaterial(c));
  }

  async processCommit(commit: Uint8Array): Promise<void> {
    const result = await this.core.transaction((ctx) => ctx.decryptMessage(this.conv(), commit));
    if (!this.cc.DecryptedMessage.Commit.instanceOf(result)) throw new Error(`processCommit: decrypted a ${result.tag}, not a commit`);
    if (!result.inner.isActive) this.active = false;
  }

  encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.core.transaction((ctx) => ctx.encryptMessage(this.conv(), plaintext));
  }

  async decrypt(message: Uint8Array): Promise<Uint8Array> {
    const result = await this.core.transaction((ctx) => ctx.decryptMessage(this.conv(), message));
    if (!this.cc.DecryptedMessage.Text.instanceOf(result)) throw new Error(`decrypt: got a ${result.tag}, not an application message`);
    return result.inner.plaintext;
  }

  epoch(): Promise<bigint> {
    return this.core.transaction((ctx) => ctx.conversationEpoch(this.conv()));
  }

  async exporterSecret(): Promise<Uint8Array> {
    return (await this.core.transaction((ctx) => ctx.exportSecretKey(this.conv(), 32))).copyBytes();
  }

  async memberIdentities(): Promise<string[]> {
    return (await this.core.transaction((ctx) => ctx.getClientIds(this.conv()))).map((c) => utf8.decode(c.copyBytes()));
  }

  dispose(): void {
    this.core.uniffiDestroy();
  }

  private async commit(op: (ctx: CC.CoreCryptoContext, conversation: CC.ConversationId) => Promise<void>): Promise<CommitOutput> {
    const before = this.sent.length;
    await this.core.transaction((ctx) => op(ctx, this.conv()));
    const bundle = this.sent[before];
    if (bundle === undefined || this.sent.length !== before + 1) throw new Error('core-crypto sent no commit bundle');
    return { commit: bundle.commit, ...(bundle.welcome ? { welcome: bundle.welcome.serialize() } : {}) };
  }

  private conv(): CC.ConversationId {
    if (this.conversation === undefined) throw new Error(`${this.name} is in no conversation`);
    return this.conversation;
  }
}
