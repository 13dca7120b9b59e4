/**
 * Builds the fuzzer's samples once, so that every run mutates the very same bytes and a seed
 * with a case index replays exactly (test/fuzz/README.md). Run from the repo root:
 *
 *   npx tsx test/fuzz/make-fixtures.ts        # fixtures/mls.json: groups, messages, events (in-process)
 *   npx tsx test/fuzz/make-fixtures.ts --pds  # fixtures/pds.json: records, pages and CAR proofs
 *                                             # captured from a real local PLC + PDS
 *
 * The keys in these files are test keys made for the fixtures and nothing else.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../../src/bytes';
import { createIdentityResolver } from '../../src/atproto/identity';
import {
  addMembers,
  createGroup,
  createSuite,
  deviceUri,
  encodeGroupState,
  encryptApplicationMessage,
  generateKeyPackage,
  generateSignatureKeyPair,
  joinGroup,
  removeMembers,
  selfUpdate,
  type AuthenticationService,
  type GeneratedKeyPackage,
  type MlsContext,
} from '../../src/mls';
import { encodeContent, TEXT_TYPE } from '../../src/protocol/content';
import { sealEnvelope } from '../../src/protocol/envelope';
import { deriveEpochKeys } from '../../src/protocol/epoch-keys';
import { sealInvite } from '../../src/protocol/invite';
import {
  DEVICE_COLLECTION_NSID,
  EVENT,
  EVENT_COLLECTION_NSID,
  KEY_PACKAGE,
  KEY_PACKAGE_COLLECTION_NSID,
  recordJson,
} from '../../src/protocol/records';
import { eventTag } from '../../src/protocol/tags';
import { CIPHER_SUITE_ID } from '../../src/mls';
import { WebSocket as NodeWebSocket } from 'ws';
import { startNetwork } from '../net/network';
import { resumeCreationSession, uniqueName } from '../net/accounts';
import { encodeFixture, FIXTURES_DIR, loadFixture } from './lib/fixture-codec';
import { deviceRecordJson, type FixtureDevice, type FixtureKeyPackage, type MlsFixture, type PdsFixture } from './lib/fixtures';

const NAMES = ['alice', 'bob', 'carol', 'dave'] as const;

/** The i-th of the filler events' record keys: a TID, `3kfpdsev` and five base32-sortable digits. */
function eventRkey(i: number): string {
  const digits = '234567abcdefghijklmnopqrstuvwxyz';
  let out = '';
  for (let x = i, n = 0; n < 5; n++, x = Math.floor(x / 32)) out = digits[x % 32] + out;
  return `3kfpdsev${out}`;
}

function tidFor(i: number): string {
  // Valid TIDs, fixed so the fixtures do not change between generations for no reason.
  return `3kf${'abcdefghij'[i]}zzzzzzzzz`.slice(0, 13);
}

async function device(name: string, i: number, suite: Awaited<ReturnType<typeof createSuite>>): Promise<FixtureDevice> {
  const did = `did:plc:${name.padEnd(24, 'z')}`;
  const rkey = tidFor(i);
  const invite = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
  return {
    name,
    did,
    rkey,
    uri: deviceUri({ did, rkey }),
    signature: await generateSignatureKeyPair(suite),
    invite: {
      publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', invite.publicKey)),
      privateKeyPkcs8: new Uint8Array(await crypto.subtle.exportKey('pkcs8', invite.privateKey)),
    },
    createdAt: new Date(Date.UTC(2025, 0, 1)).toISOString(),
  };
}

function keyPackageFixture(kp: GeneratedKeyPackage): FixtureKeyPackage {
  return {
    encoded: kp.encoded,
    ref: toHex(kp.reference),
    notAfter: kp.lifetime.notAfter,
    lastResort: kp.lastResort,
    privateKeyPackage: kp.privateKeyPackage,
  };
}

async function makeMls(): Promise<MlsFixture> {
  // ts-mls checks the lifetime of packages it commits with Date.now(): generate at the real time.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const clock = { now: () => now };
  const suite = await createSuite();
  const devices = Object.fromEntries(
    await Promise.all(NAMES.map(async (n, i) => [n, await device(n, i, suite)] as const)),
  ) as MlsFixture['devices'];
  const keys = new Map(Object.values(devices).map((d) => [d.uri, toHex(d.signature.publicKey)]));
  const auth: AuthenticationService = async (identity, key) => keys.get(identity) === toHex(key);
  const ctx: MlsContext = { suite, auth, clock };
  const kp = (d: FixtureDevice, lastResort = false) =>
    generateKeyPackage(ctx, { identity: d.uri, signatureKeyPair: d.signature, lastResort });
  const [aliceKp, bobKp, carolKp, daveKp, bobInviteKp, aliceKp2, bobLastResort] = await Promise.all([
    kp(devices.alice),
    kp(devices.bob),
    kp(devices.carol),
    kp(devices.dave),
    kp(devices.bob),
    kp(devices.alice),
    kp(devices.bob, true),
  ]);

  // Group 1: alice creates it and adds bob and carol (epoch 1). Bob is the receiver throughout.
  const initial = await createGroup(ctx, { keyPackage: aliceKp.keyPackage, privateKeyPackage: aliceKp.privateKeyPackage, conversation: '3kfuzzconvo22' });
  const add = await addMembers(ctx, initial, [bobKp.keyPackage, carolKp.keyPackage]);
  const bobState = await joinGroup(ctx, {
    welcome: add.welcome,
    ratchetTree: add.ratchetTree,
    keyPackage: bobKp.keyPackage,
    privateKeyPackage: bobKp.privateKeyPackage,
  });
  const aliceState = add.newState;
  const content = encodeContent({ $type: TEXT_TYPE, id: 'f'.repeat(32), text: 'hello bob, from the fuzz fixture', sentAt: now });
  const app = await encryptApplicationMessage(ctx, aliceState, content);
  // Three alternative commits of alice on epoch 1: each is a sample on its own.
  const update = await selfUpdate(ctx, aliceState);
  const addDave = await addMembers(ctx, aliceState, [daveKp.keyPackage]);
  const removeCarol = await removeMembers(ctx, aliceState, [2]);

  // Events as alice publishes them (tag counters 0..3 of her leaf 0 in epoch 1).
  const epochKeys = await deriveEpochKeys(ctx, aliceState);
  const event = async (counter: number, message: Uint8Array) => {
    const tag = await eventTag(epochKeys.tagKey, 0, counter);
    const ciphertext = await sealEnvelope(epochKeys.envelopeKey, tag, message);
    return recordJson(EVENT, EVENT.$build({ tag, ciphertext }));
  };

  // Group 2: alice invites bob with a stealth invite (a second package of bob's).
  const g2 = await createGroup(ctx, { keyPackage: aliceKp2.keyPackage, privateKeyPackage: aliceKp2.privateKeyPackage });
  const add2 = await addMembers(ctx, g2, [bobInviteKp.keyPackage]);
  const invite = await sealInvite(devices.bob.invite.publicKey, add2.welcome, add2.ratchetTree);

  return {
    now,
    devices,
    keyPackages: {
      bob: keyPackageFixture(bobKp),
      bobInvite: keyPackageFixture(bobInviteKp),
      bobLastResort: keyPackageFixture(bobLastResort),
      dave: keyPackageFixture(daveKp),
      carol: keyPackageFixture(carolKp),
    },
    group: {
      conversation: '3kfuzzconvo22',
      bobState: encodeGroupState(bobState),
      aliceState: encodeGroupState(aliceState),
      welcome: add.welcome,
      ratchetTree: add.ratchetTree,
      content,
      application: app.message,
      commits: { update: update.commit, add: addDave.commit, remove: removeCarol.commit },
      daveWelcome: addDave.welcome,
      daveRatchetTree: addDave.ratchetTree,
    },
    events: {
      application: await event(0, app.message),
      update: await event(1, update.commit),
      add: await event(2, addDave.commit),
      remove: await event(3, removeCarol.commit),
      invite: recordJson(EVENT, EVENT.$build({ tag: invite.tag, ciphertext: invite.ciphertext })),
      inviteWelcome: add2.welcome,
      inviteRatchetTree: add2.ratchetTree,
    },
  };
}

/**
 * Records, a listRecords page and getRecord CARs as a real PDS serves them. The MST gets a few
 * levels' worth of records first, so the inclusion proof walks more than one node.
 */
async function capturePds(mls: MlsFixture): Promise<PdsFixture> {
  const network = await startNetwork();
  try {
    const account = await network.createAccount(uniqueName('fuzz'));
    const agent = await resumeCreationSession(network.pdsUrl, account);
    const put = (collection: string, rkey: string, record: unknown) =>
      agent.com.atproto.repo.putRecord({ repo: account.did, collection, rkey, record: record as Record<string, unknown> });
    // The PDS's firehose while we write: real #commit frames (and whatever else it sends).
    const frames: Uint8Array[] = [];
    const stream = new NodeWebSocket(`${network.pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`);
    stream.on('message', (data: Buffer) => frames.push(new Uint8Array(data)));
    await new Promise((resolve, reject) => {
      stream.once('open', resolve);
      stream.once('error', reject);
    });
    const device = mls.devices.alice;
    const deviceRkey = '3kfpdsdevice2';
    await put(DEVICE_COLLECTION_NSID, deviceRkey, deviceRecordJson(device));
    const kp = mls.keyPackages.dave;
    await put(
      KEY_PACKAGE_COLLECTION_NSID,
      '3kfpdskeypkg2',
      recordJson(
        KEY_PACKAGE,
        KEY_PACKAGE.$build({
          keyPackage: kp.encoded,
          device: mls.devices.dave.rkey,
          cipherSuite: CIPHER_SUITE_ID,
          createdAt: new Date(mls.now).toISOString() as never,
          expiresAt: new Date(kp.notAfter).toISOString() as never,
          lastResort: false,
        }),
      ),
    );
    const events = [mls.events.application, mls.events.update, mls.events.invite];
    for (let i = 0; i < 120; i++) await put(EVENT_COLLECTION_NSID, eventRkey(i), events[i % events.length]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stream.close();
    const raw = async (path: string, params: Record<string, string>) => {
      const url = new URL(path, network.pdsUrl);
      if (Object.keys(params).length > 0) url.search = new URLSearchParams(params).toString();
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${path}: ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    };
    // The JSON as it comes over XRPC (`$bytes` objects), not the agent's decoded values.
    const get = async (collection: string, rkey: string) =>
      (JSON.parse(new TextDecoder().decode(await raw('/xrpc/com.atproto.repo.getRecord', { repo: account.did, collection, rkey }))) as { value: unknown }).value;
    const resolved = await createIdentityResolver({ plcUrl: network.plcUrl }).resolveDid(account.did);
    const didDocument = await raw(`${network.plcUrl}/${account.did}`, {});
    return {
      did: account.did,
      didDocument,
      // The first frames: the account's creation, identity and the first writes.
      firehoseFrames: frames.slice(0, 8),
      signingKey: { type: resolved.signingKey.type, publicKeyBytes: resolved.signingKey.publicKeyBytes },
      records: {
        device: await get(DEVICE_COLLECTION_NSID, deviceRkey),
        keyPackage: await get(KEY_PACKAGE_COLLECTION_NSID, '3kfpdskeypkg2'),
        event: await get(EVENT_COLLECTION_NSID, eventRkey(0)),
      },
      listRecordsPage: await raw('/xrpc/com.atproto.repo.listRecords', {
        repo: account.did,
        collection: EVENT_COLLECTION_NSID,
        limit: '5',
        reverse: 'true',
      }),
      proofs: {
        device: { collection: DEVICE_COLLECTION_NSID, rkey: deviceRkey, car: await raw('/xrpc/com.atproto.sync.getRecord', { did: account.did, collection: DEVICE_COLLECTION_NSID, rkey: deviceRkey }) },
        event: { collection: EVENT_COLLECTION_NSID, rkey: eventRkey(77), car: await raw('/xrpc/com.atproto.sync.getRecord', { did: account.did, collection: EVENT_COLLECTION_NSID, rkey: eventRkey(77) }) },
        absent: { collection: DEVICE_COLLECTION_NSID, rkey: '3kfpdsabsent2', car: await raw('/xrpc/com.atproto.sync.getRecord', { did: account.did, collection: DEVICE_COLLECTION_NSID, rkey: '3kfpdsabsent2' }) },
      },
    };
  } finally {
    await network.close();
  }
}

const write = (name: string, value: unknown) => writeFileSync(join(FIXTURES_DIR, name), `${encodeFixture(value)}\n`);

if (process.argv.includes('--pds')) {
  const mls = loadFixture<MlsFixture>('mls.json');
  write('pds.json', await capturePds(mls));
  process.stdout.write('wrote test/fuzz/fixtures/pds.json\n');
  process.exit(0);
} else {
  write('mls.json', await makeMls());
  process.stdout.write('wrote test/fuzz/fixtures/mls.json (run again with --pds to recapture pds.json)\n');
}
