/**
 * Runs in a Chromium page (bundled by bench/browser/run.ts). The same group scenario three ways:
 * our MLS layer (src/mls: patched ts-mls, our signature provider, key-package validation, AS),
 * raw ts-mls (its own suite implementation, trust-all AS), and OpenMLS compiled to WebAssembly
 * (@wireapp/core-crypto, in-memory databases). Times in milliseconds.
 *
 * The scenario for N members: the creator and member m1 are in a group (set-up, untimed), then
 *   add     the creator adds the other N-2 in one commit (its Welcome included);
 *   process m1 processes that commit;
 *   join    one added member joins from the Welcome (with the ratchet tree);
 *   update  the creator makes an empty commit (self-update), then
 *   updProc m1 processes it;
 *   remove  the creator removes one member (commit created).
 */
import {
  createCommit,
  createGroup as tsCreateGroup,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage as tsGenerateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup as tsJoinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import * as cc from '@wireapp/core-crypto/browser';
import {
  addMembers,
  createGroup,
  createSuite,
  deviceUri,
  generateKeyPackage,
  generateSignatureKeyPair,
  joinGroup,
  processCommit,
  removeMembers,
  selfUpdate,
  type MlsContext,
} from '../../src/mls';

export type Op = 'add' | 'process' | 'join' | 'update' | 'updProc' | 'remove';
export type Timings = Record<Op, number>;

const now = () => performance.now();

// ---------------------------------------------------------------- ours (src/mls)

async function oursContext(): Promise<MlsContext> {
  return { suite: await createSuite(), auth: async () => true, clock: { now: () => Date.now() } };
}

function base32(i: number): string {
  return i.toString(32).replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!).replace(/[k-v]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 8));
}

async function oursPackages(ctx: MlsContext, n: number, offset: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const id = base32(offset + i).padStart(6, 'a');
    const identity = deviceUri({ did: `did:plc:${id.padEnd(24, 'x')}`, rkey: `3k${id}`.padEnd(13, 'a') });
    out.push(await generateKeyPackage(ctx, { identity, signatureKeyPair: await generateSignatureKeyPair(ctx.suite) }));
  }
  return out;
}

export async function runOurs(n: number): Promise<Timings> {
  // One context (suite, signature provider and its caches) per device, as on separate devices:
  // a shared one would let m1 and the joiner reuse the creator's signature checks.
  const [ctx, bobCtx, joinerCtx] = await Promise.all([oursContext(), oursContext(), oursContext()]);
  const [creator, m1, ...rest] = await oursPackages(ctx, n, 0);
  let alice = await createGroup(ctx, { keyPackage: creator!.keyPackage, privateKeyPackage: creator!.privateKeyPackage });
  const first = await addMembers(ctx, alice, [m1!.keyPackage]);
  alice = first.newState;
  let bob = await joinGroup(bobCtx, { welcome: first.welcome, ratchetTree: first.ratchetTree, keyPackage: m1!.keyPackage, privateKeyPackage: m1!.privateKeyPackage });

  const t: Partial<Timings> = {};
  let t0 = now();
  const add = await addMembers(ctx, alice, rest.map((p) => p.keyPackage));
  t.add = now() - t0;
  alice = add.newState;
  t0 = now();
  bob = (await processCommit(bobCtx, bob, add.commit)).newState;
  t.process = now() - t0;
  const joiner = rest[rest.length - 1]!;
  t0 = now();
  await joinGroup(joinerCtx, { welcome: add.welcome, ratchetTree: add.ratchetTree, keyPackage: joiner.keyPackage, privateKeyPackage: joiner.privateKeyPackage });
  t.join = now() - t0;
  t0 = now();
  const update = await selfUpdate(ctx, alice);
  t.update = now() - t0;
  alice = update.newState;
  t0 = now();
  bob = (await processCommit(bobCtx, bob, update.commit)).newState;
  t.updProc = now() - t0;
  t0 = now();
  await removeMembers(ctx, alice, [2]);
  t.remove = now() - t0;
  return t as Timings;
}

// ---------------------------------------------------------------- raw ts-mls

const rawConfig = (): ClientConfig => ({
  keyRetentionConfig: { retainKeysForEpochs: 2, retainKeysForGenerations: 64, maximumForwardRatchetSteps: 200 },
  lifetimeConfig: { maximumTotalLifetime: 2_628_000n, validateLifetimeOnReceive: false },
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: { kind: 'padUntilLength', padUntilLength: 0 },
  authService: { validateCredential: async () => true },
});

export async function runRaw(n: number): Promise<Timings> {
  const cs: CiphersuiteImpl = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
  const packages: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }[] = [];
  for (let i = 0; i < n; i++) {
    packages.push(await tsGenerateKeyPackage({ credentialType: 'basic', identity: new TextEncoder().encode(`m${i}`) }, defaultCapabilities(), defaultLifetime, [], cs));
  }
  const [creator, m1, ...rest] = packages;
  let alice: ClientState = await tsCreateGroup(crypto.getRandomValues(new Uint8Array(32)), creator!.publicPackage, creator!.privatePackage, [], cs, rawConfig());
  const commit = (state: ClientState, extraProposals: Parameters<typeof createCommit>[1] extends infer O ? O extends { extraProposals?: infer P } ? P : never : never) =>
    createCommit({ state, cipherSuite: cs, pskIndex: emptyPskIndex }, { extraProposals });
  const first = await commit(alice, [{ proposalType: 'add', add: { keyPackage: m1!.publicPackage } }]);
  alice = first.newState;
  let bob = await tsJoinGroup(first.welcome!, m1!.publicPackage, m1!.privatePackage, emptyPskIndex, cs, alice.ratchetTree, undefined, rawConfig());
  const processed = async (state: ClientState, c: Awaited<ReturnType<typeof createCommit>>) => {
    if (c.commit.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    const r = await processPrivateMessage(state, c.commit.privateMessage, emptyPskIndex, cs);
    if (r.kind !== 'newState') throw new Error('expected a new state');
    return r.newState;
  };

  const t: Partial<Timings> = {};
  let t0 = now();
  const add = await commit(alice, rest.map((p) => ({ proposalType: 'add' as const, add: { keyPackage: p.publicPackage } })));
  t.add = now() - t0;
  alice = add.newState;
  t0 = now();
  bob = await processed(bob, add);
  t.process = now() - t0;
  const joiner = rest[rest.length - 1]!;
  t0 = now();
  await tsJoinGroup(add.welcome!, joiner.publicPackage, joiner.privatePackage, emptyPskIndex, cs, alice.ratchetTree, undefined, rawConfig());
  t.join = now() - t0;
  t0 = now();
  const update = await commit(alice, []);
  t.update = now() - t0;
  alice = update.newState;
  t0 = now();
  bob = await processed(bob, update);
  t.updProc = now() - t0;
  t0 = now();
  await commit(alice, [{ proposalType: 'remove', remove: { removed: 2 } }]);
  t.remove = now() - t0;
  return t as Timings;
}

// ---------------------------------------------------------------- OpenMLS (core-crypto, wasm)

let wasmReady: Promise<void> | undefined;
const SUITE = cc.CipherSuite.Mls128Dhkemx25519Aes128gcmSha256Ed25519;

interface CcClient {
  core: cc.CoreCrypto;
  sent: cc.CommitBundle[];
}

function clientId(i: number): cc.ClientId {
  const uuid = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  return new cc.ClientId(new cc.Uuid(uuid), new cc.DeviceId(BigInt(i + 1)), 'bench.test');
}

async function ccClient(i: number): Promise<CcClient> {
  const sent: cc.CommitBundle[] = [];
  const core = cc.CoreCrypto.new(await cc.Database.inMemory());
  const transport: cc.MlsTransport = {
    async sendCommitBundle(bundle) {
      sent.push(bundle);
    },
    async prepareForTransport(secret) {
      return new Uint8Array(0) as unknown as cc.MlsTransportData;
    },
  };
  await core.transaction((ctx) => ctx.mlsInit(clientId(i), transport));
  return { core, sent };
}

async function ccCredential(client: CcClient, i: number): Promise<cc.CredentialRef> {
  return client.core.transaction((ctx) => ctx.addCredential(cc.Credential.basic(SUITE, clientId(i)))) as Promise<cc.CredentialRef>;
}

/** core-crypto's errors are objects with a tag and a nested inner error: say which step and what. */
function describe(err: unknown): string {
  const seen = new WeakSet();
  try {
    return JSON.stringify(err, (_k, v) => {
      if (typeof v === 'bigint') return String(v);
      if (v && typeof v === 'object') {
        if (seen.has(v)) return undefined;
        seen.add(v);
        return Object.fromEntries(Object.getOwnPropertyNames(v).map((k) => [k, (v as Record<string, unknown>)[k]]));
      }
      return v;
    }).slice(0, 1500);
  } catch {
    return String(err);
  }
}

export async function runOpenMls(n: number): Promise<Timings> {
  let step = 'start';
  try {
    return await openMlsScenario(n, (s) => (step = s));
  } catch (err) {
    throw new Error(`OpenMLS step ${step}: ${describe(err)}`);
  }
}

async function openMlsScenario(n: number, step: (s: string) => void): Promise<Timings> {
  step('init');
  wasmReady ??= cc.initWasmModule('/core-crypto/');
  await wasmReady;
  const alice = await ccClient(0);
  const bob = await ccClient(1);
  step('credentials');
  const aliceCred = await ccCredential(alice, 0);
  const bobCred = await ccCredential(bob, 1);
  // Every member is its own client (core-crypto ties a credential to its client id), each with
  // an in-memory database. Only the last one is kept: it joins from the Welcome.
  const restPackages: Uint8Array[] = [];
  let pool: CcClient | undefined;
  for (let i = 2; i < n; i++) {
    const client = await ccClient(i);
    const cred = await ccCredential(client, i);
    const kp = (await client.core.transaction((ctx) => ctx.generateKeyPackage(cred))) as cc.KeyPackage;
    restPackages.push(kp.serialize());
    if (i === n - 1) pool = client;
    else (client.core as unknown as { uniffiDestroy?(): void }).uniffiDestroy?.();
  }
  const bobKp = ((await bob.core.transaction((ctx) => ctx.generateKeyPackage(bobCred))) as cc.KeyPackage).serialize();
  step('create');
  const convo = new cc.ConversationId(crypto.getRandomValues(new Uint8Array(32)));
  await alice.core.transaction((ctx) => ctx.createConversation(convo, aliceCred));
  await alice.core.transaction((ctx) => ctx.addClientsToConversation(convo, [new cc.KeyPackage(bobKp)]));
  step('bob joins');
  await bob.core.transaction((ctx) => ctx.processWelcomeMessage(alice.sent.at(-1)!.welcome!));

  const t: Partial<Timings> = {};
  let t0 = now();
  step('add');
  await alice.core.transaction((ctx) => ctx.addClientsToConversation(convo, restPackages.map((b) => new cc.KeyPackage(b))));
  t.add = now() - t0;
  const add = alice.sent.at(-1)!;
  t0 = now();
  step('process');
  await bob.core.transaction((ctx) => ctx.decryptMessage(convo, add.commit));
  t.process = now() - t0;
  t0 = now();
  // The Welcome's GroupInfo carries the ratchet tree (core-crypto's default), as ours travels beside it.
  step('join');
  await pool!.core.transaction((ctx) => ctx.processWelcomeMessage(add.welcome!));
  t.join = now() - t0;
  t0 = now();
  step('update');
  await alice.core.transaction((ctx) => ctx.updateKeyingMaterial(convo));
  t.update = now() - t0;
  const update = alice.sent.at(-1)!;
  t0 = now();
  step('updProc');
  await bob.core.transaction((ctx) => ctx.decryptMessage(convo, update.commit));
  t.updProc = now() - t0;
  t0 = now();
  step('remove');
  await alice.core.transaction((ctx) => ctx.removeClientsFromConversation(convo, [clientId(2)]));
  t.remove = now() - t0;
  return t as Timings;
}

declare global {
  interface Window {
    bench: { runOurs: typeof runOurs; runRaw: typeof runRaw; runOpenMls: typeof runOpenMls };
  }
}
window.bench = { runOurs, runRaw, runOpenMls };
