import type { FoundPublicKey } from '@atcute/crypto';
import { createAuthenticationService, type AuthenticationService } from '../../../src/engine/authentication-service';
import { mlsAuthService } from '../../../src/engine/mls-auth';
import type { LocalDevice, ProvenRecord, RecordProver } from '../../../src/engine/ports';
import {
  CIPHER_SUITE_ID,
  createSuite,
  decodeGroupState,
  DEVICE_COLLECTION,
  type GroupState,
  type MlsContext,
  type MlsSuite,
  type PrivateKeyPackage,
} from '../../../src/mls';
import { DEVICE, recordJson } from '../../../src/protocol/records';
import { loadFixture } from './fixture-codec';

/** The shapes of fixtures/mls.json and fixtures/pds.json (made by test/fuzz/make-fixtures.ts). */
export interface FixtureDevice {
  name: string;
  did: string;
  rkey: string;
  uri: string;
  signature: { publicKey: Uint8Array; signKey: Uint8Array };
  invite: { publicKey: Uint8Array; privateKeyPkcs8: Uint8Array };
  createdAt: string;
}

export interface FixtureKeyPackage {
  /** MLSMessage (mls_key_package) bytes. */
  encoded: Uint8Array;
  /** KeyPackageRef, hex. */
  ref: string;
  notAfter: number;
  lastResort: boolean;
  privateKeyPackage: PrivateKeyPackage;
}

export interface MlsFixture {
  /** The fixture's clock (ms): every context built from it reads this time. */
  now: number;
  devices: Record<'alice' | 'bob' | 'carol' | 'dave', FixtureDevice>;
  keyPackages: Record<'bob' | 'bobInvite' | 'bobLastResort' | 'dave' | 'carol', FixtureKeyPackage>;
  group: {
    conversation: string;
    /** encodeGroupState of bob (leaf 1) and alice (leaf 0, the creator) at epoch 1; carol is leaf 2. */
    bobState: Uint8Array;
    aliceState: Uint8Array;
    /** The Welcome (and ratchet tree) that brought bob and carol in. */
    welcome: Uint8Array;
    ratchetTree: Uint8Array;
    /** The DAG-CBOR content alice sent, and its MLS application message (epoch 1, generation 0). */
    content: Uint8Array;
    application: Uint8Array;
    /** Three alternative commits of alice on epoch 1. */
    commits: { update: Uint8Array; add: Uint8Array; remove: Uint8Array };
    /** The Welcome of the `add` commit, for dave. */
    daveWelcome: Uint8Array;
    daveRatchetTree: Uint8Array;
  };
  /** Event records (lexicon JSON) as alice publishes them; tag counters 0..3 of leaf 0, epoch 1. */
  events: {
    application: unknown;
    update: unknown;
    add: unknown;
    remove: unknown;
    /** A stealth invite to bob (group 2, with bob's `bobInvite` package). */
    invite: unknown;
    inviteWelcome: Uint8Array;
    inviteRatchetTree: Uint8Array;
  };
}

export interface PdsFixture {
  did: string;
  /** The DID document as the PLC served it. */
  didDocument: Uint8Array;
  /** Frames of the PDS's com.atproto.sync.subscribeRepos stream while the records were written. */
  firehoseFrames: Uint8Array[];
  signingKey: { type: 'p256' | 'secp256k1'; publicKeyBytes: Uint8Array };
  /** Record values as com.atproto.repo.getRecord returned them. */
  records: { device: unknown; keyPackage: unknown; event: unknown };
  /** A raw com.atproto.repo.listRecords answer (5 events, reverse=true). */
  listRecordsPage: Uint8Array;
  /** com.atproto.sync.getRecord CARs: two inclusion proofs and one of absence. */
  proofs: Record<'device' | 'event' | 'absent', { collection: string; rkey: string; car: Uint8Array }>;
}

let mls: MlsFixture | undefined;
let pds: PdsFixture | undefined;

export function mlsFixture(): MlsFixture {
  return (mls ??= loadFixture<MlsFixture>('mls.json'));
}

export function pdsFixture(): PdsFixture {
  return (pds ??= loadFixture<PdsFixture>('pds.json'));
}

export function signingKeyOf(fixture: PdsFixture): FoundPublicKey {
  const { type, publicKeyBytes } = fixture.signingKey;
  const bytes = new Uint8Array(publicKeyBytes);
  return type === 'p256' ? { type, jwtAlg: 'ES256', publicKeyBytes: bytes } : { type, jwtAlg: 'ES256K', publicKeyBytes: bytes };
}

export function deviceRecordJson(d: FixtureDevice): unknown {
  return recordJson(
    DEVICE,
    DEVICE.$build({
      signatureKey: d.signature.publicKey,
      inviteKey: d.invite.publicKey,
      cipherSuites: [CIPHER_SUITE_ID],
      createdAt: d.createdAt as never,
      name: `${d.name}'s browser`,
    }),
  );
}

/**
 * Proves the fixture devices' records from memory. The CAR verification that a real prover does
 * is fuzzed on its own (car.proof); here the Authentication Service above it runs for real.
 */
export function fixtureProver(fixture: MlsFixture): RecordProver {
  return {
    async proveRecord(did, collection, rkey): Promise<ProvenRecord | undefined> {
      const d = Object.values(fixture.devices).find((x) => x.did === did && x.rkey === rkey);
      if (!d || collection !== DEVICE_COLLECTION) return undefined;
      return { did, collection, rkey, cid: `bafyreifixture${d.name}`, json: deviceRecordJson(d) };
    },
  };
}

let suite: Promise<MlsSuite> | undefined;

/** An MLS context at the fixture's time whose AS is the engine's, over the fixture devices. */
/** The Authentication Service over the fixture's proven device records. */
export function fixtureAuthenticationService(): AuthenticationService {
  const fixture = mlsFixture();
  return createAuthenticationService({ prover: fixtureProver(fixture), clock: { now: () => fixture.now } });
}

export async function fixtureContext(): Promise<MlsContext> {
  const fixture = mlsFixture();
  const clock = { now: () => fixture.now };
  return { suite: await (suite ??= createSuite()), auth: mlsAuthService(fixtureAuthenticationService()), clock };
}

export function bobState(ctx: MlsContext): GroupState {
  return decodeGroupState(ctx, mlsFixture().group.bobState);
}

export function aliceState(ctx: MlsContext): GroupState {
  return decodeGroupState(ctx, mlsFixture().group.aliceState);
}

/** A fixture device as the engine holds it, its invite key imported non-extractable. */
export async function localDevice(d: FixtureDevice): Promise<LocalDevice> {
  const privateKey = await crypto.subtle.importKey('pkcs8', d.invite.privateKeyPkcs8 as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, [
    'deriveBits',
  ]);
  return {
    did: d.did,
    rkey: d.rkey,
    uri: d.uri,
    signature: d.signature,
    invite: { publicKey: d.invite.publicKey, privateKey },
    createdAt: d.createdAt,
    published: true,
  };
}
