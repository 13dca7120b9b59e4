import { cidForRawBytes } from '@atproto/lex-data';
import { bytesEqual, toHex } from '../../../src/bytes';
import { newGroupRecord } from '../../../src/engine/create-group';
import { DEFAULT_DELIVERY_POLICY, newReadLog, type DeliveryDeps } from '../../../src/engine/delivery-deps';
import type { GroupRecord } from '../../../src/engine/delivery-state';
import { pollPeer, type PollReport } from '../../../src/engine/inbox';
import { processEvent, type EventOutcome } from '../../../src/engine/receive';
import type { KeyPackageSecret, PublicRepos, RepoRecord } from '../../../src/engine/ports';
import { AtmError } from '../../../src/errors';
import {
  createApplicationMessage,
  encodeMlsMessage,
} from 'ts-mls';
import { decodeGroupState, decodeKeyPackageMessage, epochAuthenticator, joinGroup, processCommit } from '../../../src/mls';
import { clientConfigFor } from '../../../src/mls/context';
import { decodeContent } from '../../../src/protocol/content';
import { sealEnvelope } from '../../../src/protocol/envelope';
import { INVITE_OVERHEAD } from '../../../src/protocol/invite';
import { pad } from '../../../src/protocol/padding';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord } from '../../../src/protocol/records';
import { eventTag } from '../../../src/protocol/tags';
import { openAtmDb, type AtmDb } from '../../../src/store/db';
import { idbDeliveryStore } from '../../../src/store/delivery-store';
import { idbKeyPackageStore } from '../../../src/store/device-store';
import { MemoryRepo } from '../../unit/engine/memory-repo';
import { canonical } from '../lib/canonical';
import { aliceState, bobState, fixtureAuthenticationService, fixtureContext, localDevice, mlsFixture } from '../lib/fixtures';
import { ACCEPTED, check, fail, rejected, type FuzzTarget, type Verdict } from '../lib/harness';
import { mutateBytes, mutateOrKeep, toBase64 } from '../lib/mutate-bytes';
import { mutateValue } from '../lib/mutate-value';
import type { Rng } from '../lib/prng';
import { content, fixtureEpochKeys, sealRawInvite } from './protocol';

/**
 * The receive path of a device (bob) end to end: an event record in a peer's (alice's) repo is
 * read by pollPeer (src/engine/inbox.ts), parsed, processed (receive.ts) and its changes stored
 * with the cursor in one IndexedDB transaction (fake-indexeddb, real IDB semantics, through
 * src/store/delivery-store.ts). Every case starts from the same stored state: bob, member of
 * the fixture group at epoch 1, holding one unused KeyPackage for alice's stealth invite.
 *
 * A rejected event may move the cursor past itself (that is the design: bad input is passed
 * over) and nothing else: groups, messages, outbox, parked events, used Welcomes, KeyPackages
 * are compared before and after. An event "not for us yet" may in addition be parked, alone. An
 * accepted one must be exactly what the genuine event says.
 */

/** Outcomes a bad event may end in: a typed code, or being passed over or parked. */
const ENGINE_CODES = [
  'InvalidRecord', // not an event record: passed over
  'Unreadable', // a blob that cannot be had for good: passed over
  'Network', // a blob missing (404): the cursor stays, tried again later
  'Unrecognised', // no tag of ours and not an invite to us: passed over or parked
  'InvalidEnvelope',
  'MlsDecode',
  'UnexpectedMessage',
  'WrongGroup',
  'StaleEpoch',
  'FutureEpoch',
  'MlsRejected',
  'NotMember',
  'UntrustedCredential',
  'KeyPackageExpired',
  'UnsupportedCipherSuite',
  'WelcomeNotForUs',
  'WelcomeReplayed',
];

const ALICE = () => mlsFixture().devices.alice;
const STORES = ['groups', 'messages', 'outbox', 'cursors', 'pending', 'welcomes', 'ownEvents', 'keyPackages', 'device'] as const;

interface Baseline {
  group: GroupRecord;
  invitePackage: KeyPackageSecret;
  cursorRkey: string;
}

let baseline: Promise<Baseline> | undefined;
function theBaseline(): Promise<Baseline> {
  baseline ??= (async () => {
    const f = mlsFixture();
    const mls = await fixtureContext();
    const group = await newGroupRecord({ mls, clock: mls.clock }, bobState(mls), f.group.conversation);
    const kp = f.keyPackages.bobInvite;
    const invitePackage: KeyPackageSecret = {
      ref: kp.ref,
      rkey: '3kfbobinvite2',
      lastResort: false,
      notAfter: kp.notAfter,
      encoded: kp.encoded,
      privateKeyPackage: kp.privateKeyPackage,
      state: 'published',
    };
    return { group, invitePackage, cursorRkey: '3kfcursor2222' };
  })();
  return baseline;
}

/** Where alice's repo serves the case's record: after the baseline cursor. */
const EVENT_RKEY = '3kfevent22222';

interface Device {
  name: string;
  stage: Stage;
  db: AtmDb;
  deps: DeliveryDeps;
  /** What the fuzz repo of alice serves this case. */
  serve: { record?: RepoRecord; blobs: Map<string, Uint8Array> };
}

/**
 * Where bob stands when the event arrives: at epoch 1, or at epoch 2 right after alice's update
 * commit, with epoch 1 retained and its state kept as the parent (§6.7), so the fixture's other
 * epoch-1 commits arrive as late competitors and its application message as a late message.
 */
export type Stage = 'epoch1' | 'afterUpdate';

const devices = new Map<Stage, Promise<Device>>();
let generation = 0;

let afterUpdate: Promise<GroupRecord> | undefined;
/** Bob's group once the genuine update commit is applied on the baseline. */
function groupAfterUpdate(): Promise<GroupRecord> {
  afterUpdate ??= (async () => {
    const d = await freshDevice('epoch1');
    const record = parseRecord(EVENT, mlsFixture().events.update);
    const uri = `at://${ALICE().did}/${EVENT_COLLECTION_NSID}/${EVENT_RKEY}`;
    const { changes, outcome } = await processEvent(d.deps, { uri, did: ALICE().did, rkey: EVENT_RKEY, tag: record.tag, ciphertext: record.ciphertext! });
    if (outcome.kind !== 'commit' || outcome.result !== 'applied') throw new Error(`the genuine update commit was ${canonical(outcome)}`);
    d.db.close();
    return changes.putGroups![0]!;
  })();
  return afterUpdate;
}

/** Bob's device over a fresh IndexedDB holding the baseline of a stage. */
async function freshDevice(stage: Stage): Promise<Device> {
  const base = await theBaseline();
  const f = mlsFixture();
  const mls = await fixtureContext();
  const name = `atm-fuzz-engine-${generation++}`;
  const db = await openAtmDb(name);
  const store = idbDeliveryStore(db);
  const keyPackages = idbKeyPackageStore(db);
  await keyPackages.put(structuredClone(base.invitePackage));
  await store.apply({
    putGroups: [stage === 'epoch1' ? base.group : await groupAfterUpdate()],
    putCursors: [{ did: f.devices.alice.did, rkey: base.cursorRkey, updatedAt: f.now, recent: [] }],
  });
  const serve: Device['serve'] = { blobs: new Map() };
  const publicRepos: PublicRepos = {
    listRecords: async () => [],
    async listRecordsAfter(did, _collection, after) {
      const r = serve.record;
      return { records: r && did === f.devices.alice.did && (after === undefined || r.rkey > after) ? [r] : [] };
    },
    async getBlob(_did, cid) {
      const bytes = serve.blobs.get(cid);
      // What publicRepos answers for a blob the PDS does not have (404).
      if (!bytes) throw new AtmError('Network', 'blob not found', { cid, status: 404 });
      return bytes.slice();
    },
  };
  const deps: DeliveryDeps = {
    device: await localDevice(f.devices.bob),
    mls,
    store,
    repo: new MemoryRepo(f.devices.bob.did),
    publicRepos,
    keyPackages,
    as: fixtureAuthenticationService(),
    clock: mls.clock,
    newTid: () => '3kfnewtid2222',
    policy: DEFAULT_DELIVERY_POLICY,
    reads: newReadLog(),
  };
  return { name, stage, db, deps, serve };
}

async function snapshot(db: AtmDb): Promise<Record<(typeof STORES)[number], string>> {
  const out = {} as Record<(typeof STORES)[number], string>;
  for (const name of STORES) out[name] = canonical(await db.getAll(name));
  return out;
}

let references: Promise<{ commits: Set<string>; invite: string }> | undefined;
/** Epoch authenticators the genuine commits lead bob to, and the genuine invite's group. */
function engineReferences() {
  references ??= (async () => {
    const c = await fixtureContext();
    const f = mlsFixture();
    const commits = new Set<string>();
    for (const commit of Object.values(f.group.commits)) {
      commits.add(toHex(epochAuthenticator((await processCommit(c, bobState(c), commit)).newState)));
    }
    const kp = f.keyPackages.bobInvite;
    const joined = await joinGroup(c, {
      welcome: f.events.inviteWelcome,
      ratchetTree: f.events.inviteRatchetTree,
      keyPackage: decodeKeyPackageMessage(kp.encoded),
      privateKeyPackage: kp.privateKeyPackage,
    });
    return { commits, invite: toHex(epochAuthenticator(joined)) };
  })();
  return references;
}

export interface EngineCase {
  stage: Stage;
  /** The record value as alice's PDS serves it. */
  value: unknown;
  /** Blobs alice's PDS serves, by CID. */
  blobs: Array<[string, Uint8Array]>;
  /** For accepted application messages: the content the event must deliver. */
  expectedContent?: Uint8Array;
  ops: string[];
}

/** Feeds one record through bob's pollPeer and judges the result against the stored state. */
async function runEngineCase(input: EngineCase): Promise<Verdict> {
  if (!devices.has(input.stage)) devices.set(input.stage, freshDevice(input.stage));
  const d = await devices.get(input.stage)!;
  const alice = ALICE();
  // Every case reads from the baseline cursor: cases do not depend on each other.
  const base = await theBaseline();
  await d.deps.store.apply({ putCursors: [{ did: alice.did, rkey: base.cursorRkey, updatedAt: mlsFixture().now, recent: [] }] });
  const uri = `at://${alice.did}/${EVENT_COLLECTION_NSID}/${EVENT_RKEY}`;
  d.serve.record = { uri, cid: 'bafyreifuzz', rkey: EVENT_RKEY, value: input.value };
  d.serve.blobs = new Map(input.blobs);
  const decided = await decideAlone(d, uri, input);
  if (decided?.kind === 'joined') {
    // processInvite stores the group itself: judged from the store, and the next case starts afresh.
    try {
      return await judgeJoined(d, decided.groupId);
    } finally {
      devices.set(d.stage, replaceDevice(d));
    }
  }
  const before = await snapshot(d.db);
  const report: PollReport = { processed: 0, outcomes: [], unreachable: [] };
  let thrown: unknown;
  try {
    await pollPeer(d.deps, alice.did, report);
  } catch (error) {
    thrown = error;
  }
  const after = await snapshot(d.db);
  const changed = STORES.filter((s) => before[s] !== after[s]);
  const judged = { dirty: false };
  try {
    if (decided) {
      const outcome = report.outcomes[0];
      const same = outcome?.kind === decided.kind && (outcome.kind !== 'rejected' || outcome.code === (decided as { code?: string }).code);
      check(same || thrown !== undefined, `receive decided ${canonical(decided)} but pollPeer ${canonical(outcome)}`);
    }
    return await judge(d, input, { thrown, report, changed }, judged);
  } finally {
    // A case that changed more than the cursor: the next one starts from the baseline again.
    if (judged.dirty) devices.set(d.stage, replaceDevice(d));
  }
}

/**
 * The decision of receive.ts alone (processEvent, which computes a ChangeSet and stores nothing):
 * for a rejected or unrecognised event the ChangeSet is empty and every store, cursors
 * included, is as it was. Only for events with inline ciphertext (a blob needs the repo).
 */
async function decideAlone(d: Device, uri: string, input: EngineCase): Promise<EventOutcome | undefined> {
  let record;
  try {
    record = parseRecord(EVENT, input.value);
  } catch {
    return undefined;
  }
  if (!record.ciphertext) return undefined;
  const before = await snapshot(d.db);
  let result: Awaited<ReturnType<typeof processEvent>>;
  try {
    result = await processEvent(d.deps, { uri, did: ALICE().did, rkey: EVENT_RKEY, tag: record.tag, ciphertext: record.ciphertext });
  } catch (error) {
    const after = await snapshot(d.db);
    check(STORES.every((s) => before[s] === after[s]), 'processEvent threw and changed the store');
    if (error instanceof AtmError) return undefined; // "not now": pollPeer says the same
    throw error;
  }
  if (result.outcome.kind === 'joined') return result.outcome;
  const after = await snapshot(d.db);
  const written = STORES.filter((s) => before[s] !== after[s]);
  check(written.length === 0, `processEvent wrote ${written.join(', ')} itself`);
  if (result.outcome.kind === 'rejected' || result.outcome.kind === 'unrecognised') {
    const nonEmpty = Object.entries(result.changes).filter(([, v]) => Array.isArray(v) && v.length > 0);
    check(nonEmpty.length === 0, `a ${result.outcome.kind} event came with changes: ${nonEmpty.map(([k]) => k).join(', ')}`);
  }
  return result.outcome;
}

async function judgeJoined(d: Device, groupId: string): Promise<Verdict> {
  const group = (await d.deps.store.listGroups()).find((g) => g.groupId === groupId);
  if (!group) return fail('joined a group that was not stored');
  const auth = toHex(epochAuthenticator(decodeGroupState(d.deps.mls, group.state)));
  check(auth === (await engineReferences()).invite, 'joined another group than the genuine invite makes');
  return ACCEPTED;
}

async function replaceDevice(old: Device): Promise<Device> {
  old.db.close();
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(old.name);
    request.onsuccess = request.onerror = request.onblocked = resolve;
  });
  return freshDevice(old.stage);
}

async function judge(
  d: Device,
  input: EngineCase,
  run: { thrown: unknown; report: PollReport; changed: string[] },
  judged: { dirty: boolean },
): Promise<Verdict> {
  const alice = ALICE();
  const { thrown, report, changed } = run;
  if (thrown !== undefined) {
    // Only "not now" errors leave pollPeer, and then nothing at all may have changed.
    check(changed.length === 0, `pollPeer threw and changed ${changed.join(', ')}`);
    if (thrown instanceof AtmError) return rejected(thrown.code);
    throw thrown;
  }
  check(report.outcomes.length <= 1, 'one record gave several outcomes');
  const outcome = report.outcomes[0];
  const cursor = await d.deps.store.getCursor(alice.did);
  check(cursor?.rkey === EVENT_RKEY && cursor.recent?.includes(EVENT_RKEY), 'the cursor did not move past the event');
  const onlyCursor = changed.every((s) => s === 'cursors');

  if (!outcome) {
    check(onlyCursor, `a passed-over record changed ${changed.join(', ')}`);
    try {
      parseRecord(EVENT, input.value);
    } catch {
      return rejected('InvalidRecord');
    }
    return rejected('Unreadable');
  }
  if (outcome.kind === 'rejected') {
    check(onlyCursor, `a rejected event (${outcome.code}) changed ${changed.join(', ')}`);
    return rejected(outcome.code);
  }
  if (outcome.kind === 'unrecognised') {
    const rest = changed.filter((s) => s !== 'cursors' && s !== 'pending');
    check(rest.length === 0, `an unrecognised event changed ${rest.join(', ')}`);
    const pending = await d.deps.store.listPending();
    check(pending.length <= 1 && pending.every((p) => p.uri === d.serve.record!.uri), 'parked more than the event');
    judged.dirty = pending.length > 0;
    return rejected('Unrecognised');
  }

  // Accepted: the stored state must be what the genuine event leads to.
  judged.dirty = true;
  const groups = await d.deps.store.listGroups();
  const mls = d.deps.mls;
  if (outcome.kind === 'message') {
    const content = decodeContent(input.expectedContent ?? mlsFixture().group.content);
    const stored = await d.deps.store.listMessages(outcome.groupId);
    check(stored.length === 1, 'not exactly one message stored');
    const m = stored[0]!;
    check(m.text === content.text && m.contentId === content.id && m.sentAt === content.sentAt, 'the stored message differs from what was sent');
    check(m.senderUri === alice.uri && !m.own, 'the stored message has another sender');
    return ACCEPTED;
  }
  if (outcome.kind === 'commit') {
    const group = groups.find((g) => g.groupId === outcome.groupId)!;
    const auth = () => toHex(epochAuthenticator(decodeGroupState(mls, group.state)));
    if (outcome.result === 'ignored') {
      // A late competitor that ranks after the winner: bob stays where he was.
      check(d.stage === 'afterUpdate', 'a commit on the current epoch was ignored');
      check(bytesEqual(group.state, (await groupAfterUpdate()).state), 'an ignored commit changed the state');
      return ACCEPTED;
    }
    check(outcome.result === (d.stage === 'epoch1' ? 'applied' : 'switched'), `a commit was ${outcome.result} at ${d.stage}`);
    check(group.current.epoch === '2', 'the group is not at epoch 2');
    check((await engineReferences()).commits.has(auth()), 'an altered commit led to an epoch no genuine commit leads to');
    return ACCEPTED;
  }
  if (outcome.kind === 'joined') return judgeJoined(d, outcome.groupId);
  return fail(`unexpected outcome ${outcome.kind}`);
}

// ---------------------------------------------------------------------------------------------
// Inputs

type EngineInput = Omit<EngineCase, 'stage'>;
interface InputSource {
  generate(rng: Rng): EngineInput | Promise<EngineInput>;
}

/** A target over an input source: each case also picks bob's stage (30% after the update). */
function staged(name: string, source: InputSource): FuzzTarget<EngineCase> {
  return {
    name,
    allowed: ENGINE_CODES,
    async generate(rng) {
      const input = await source.generate(rng);
      return { ...input, stage: rng.chance(0.3) ? 'afterUpdate' : 'epoch1' };
    },
    run: runEngineCase,
    describe: ({ stage, ops }) => `${stage}: ${ops.join('; ')}`.slice(0, 400),
  };
}

const SAMPLES = ['application', 'update', 'add', 'remove', 'invite'] as const;

function eventValue(name: (typeof SAMPLES)[number]): Record<string, unknown> {
  return mlsFixture().events[name] as Record<string, unknown>;
}

function eventJson(tag: Uint8Array, ciphertext: Uint8Array): unknown {
  // Written the way a (possibly hostile) client would: unchecked, so odd lengths get through.
  return {
    $type: EVENT_COLLECTION_NSID,
    tag: { $bytes: toBase64(tag).replace(/=+$/, '') },
    ciphertext: { $bytes: toBase64(ciphertext).replace(/=+$/, '') },
  };
}

async function blobRecord(tag: Uint8Array, bytes: Uint8Array): Promise<{ value: unknown; blobs: Array<[string, Uint8Array]> }> {
  const cid = (await cidForRawBytes(bytes)).toString();
  const value = {
    $type: EVENT_COLLECTION_NSID,
    tag: { $bytes: toBase64(tag).replace(/=+$/, '') },
    blob: { $type: 'blob', ref: { $link: cid }, mimeType: 'application/octet-stream', size: bytes.length },
  };
  return { value, blobs: [[cid, bytes]] };
}

/** Event records mutated as JSON (types, fields, sizes), some as blob references. */
const engineRecordInputs: InputSource = {
  async generate(rng) {
    const sample = rng.pick(SAMPLES);
    if (rng.chance(0.25)) {
      // The sealed bytes as a blob (§6.5): the reference, or the bytes behind it, altered.
      const genuine = parseRecord(EVENT, eventValue(sample));
      const { value, blobs } = await blobRecord(genuine.tag, genuine.ciphertext!);
      if (rng.chance(0.5)) {
        const m = mutateValue(rng, value, 'json');
        return { value: m.value, blobs, ops: [`${sample} as blob`, ...m.ops] };
      }
      const m = mutateBytes(rng, genuine.ciphertext!);
      // The PDS serves other bytes under the CID: publicRepos refuses them (ProofInvalid) in
      // reality; here the record names the CID of what is served, as a hostile author would.
      const altered = await blobRecord(genuine.tag, m.bytes);
      return { value: altered.value, blobs: altered.blobs, ops: [`${sample} blob bytes`, ...m.ops] };
    }
    const m = mutateValue(rng, eventValue(sample), 'json');
    return { value: m.value, blobs: [], ops: [sample, ...m.ops] };
  },
};

/** The sealed bytes and tags of genuine events, altered (in transit, by a PDS). */
const engineEnvelopeInputs: InputSource = {
  generate(rng) {
    const sample = rng.pick(SAMPLES);
    const genuine = parseRecord(EVENT, eventValue(sample));
    const others = SAMPLES.map((s) => parseRecord(EVENT, eventValue(s)).ciphertext!);
    if (rng.chance(0.2)) {
      const m = mutateBytes(rng, genuine.tag);
      return { value: eventJson(m.bytes, genuine.ciphertext!), blobs: [], ops: [sample, ...m.ops.map((o) => `tag ${o}`)] };
    }
    const m = mutateOrKeep(rng, genuine.ciphertext!, others);
    return { value: eventJson(genuine.tag, m.bytes), blobs: [], ops: [sample, ...m.ops] };
  },
};

/**
 * A member holding the epoch keys (alice, or anyone in the group) seals altered MLS messages
 * under valid tags: of alice's leaf, of another member's leaf (bob's own, carol's), at various
 * counters.
 */
const engineMlsInputs: InputSource = {
  async generate(rng) {
    const g = mlsFixture().group;
    const samples = [g.application, g.commits.update, g.commits.add, g.commits.remove, g.welcome];
    const keys = await fixtureEpochKeys();
    const leaf = rng.weighted([
      [6, 0],
      [1, 1],
      [1, 2],
    ] as const);
    const counter = rng.pick([0, 1, 2, 3, 63]);
    const tag = await eventTag(keys.tagKey, leaf, counter);
    const genuine = rng.chance(0.1);
    const m = genuine ? { bytes: rng.pick(samples), ops: ['unaltered'] } : mutateBytes(rng, rng.pick(samples), samples);
    const ciphertext = await sealEnvelope(keys.envelopeKey, tag, m.bytes);
    return { value: eventJson(tag, ciphertext), blobs: [], ops: [`tag leaf ${leaf} #${counter}`, ...m.ops] };
  },
};

/**
 * Application messages alice really encrypts and signs, carrying hostile content: the MLS
 * layer accepts them, so decodeContent and the message store are what stand in the way.
 */
const engineContentInputs: InputSource = {
  async generate(rng: Rng) {
    let c = await content.generate(rng, 0);
    // Over the largest blob bucket nobody can send it; such content is the content target's.
    while (c.bytes.length > 1_000_000) c = await content.generate(rng, 0);
    const mls = await fixtureContext();
    const alice = { ...aliceState(mls), clientConfig: clientConfigFor(mls) };
    // Generation 0 of alice's epoch-1 ratchet every time: bob's state is reset between cases.
    const made = await createApplicationMessage(alice, c.bytes, mls.suite.impl);
    const message = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: made.privateMessage });
    const keys = await fixtureEpochKeys();
    const tag = await eventTag(keys.tagKey, 0, 0);
    return { value: eventJson(tag, await sealEnvelope(keys.envelopeKey, tag, message)), blobs: [], expectedContent: c.bytes, ops: c.ops };
  },
};

/** Stealth invites to bob whose Welcome, tree or framing are malformed (sealed to his real key). */
const engineInviteInputs: InputSource = {
  async generate(rng) {
    const e = mlsFixture().events;
    const parts = [e.inviteWelcome, e.inviteRatchetTree, mlsFixture().group.welcome];
    const which = rng.pick(['welcome', 'tree', 'both'] as const);
    const welcome = which === 'tree' ? { bytes: e.inviteWelcome, ops: [] } : mutateOrKeep(rng, e.inviteWelcome, parts);
    const tree = which === 'welcome' ? { bytes: e.inviteRatchetTree, ops: [] } : mutateOrKeep(rng, e.inviteRatchetTree, parts);
    const payload = new Uint8Array(8 + welcome.bytes.length + tree.bytes.length);
    const view = new DataView(payload.buffer);
    view.setUint32(0, welcome.bytes.length);
    payload.set(welcome.bytes, 4);
    view.setUint32(4 + welcome.bytes.length, tree.bytes.length);
    payload.set(tree.bytes, 8 + welcome.bytes.length);
    const sealed = await sealRawInvite(mlsFixture().devices.bob.invite.publicKey, pad(payload, INVITE_OVERHEAD));
    return {
      value: eventJson(sealed.tag, sealed.ciphertext),
      blobs: [],
      ops: [...welcome.ops.map((o) => `welcome ${o}`), ...tree.ops.map((o) => `tree ${o}`)],
    };
  },
};


export const engineRecord = staged('engine.record', engineRecordInputs);
export const engineEnvelope = staged('engine.envelope', engineEnvelopeInputs);
export const engineMls = staged('engine.mls', engineMlsInputs);
export const engineContent = staged('engine.content', engineContentInputs);
export const engineInvite = staged('engine.invite', engineInviteInputs);
