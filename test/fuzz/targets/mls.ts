import { createApplicationMessage, createCommit, createProposal, emptyPskIndex, encodeMlsMessage, type Proposal } from 'ts-mls';
import { bytesEqual, toHex } from '../../../src/bytes';
import { findKeyPackages } from '../../../src/engine/key-package-directory';
import type { PublicRepos, RepoRecord } from '../../../src/engine/ports';
import {
  CIPHER_SUITE_ID,
  CONVERSATION_EXTENSION_TYPE,
  decodeKeyPackageMessage,
  decryptApplicationMessage,
  deviceUri,
  encodeGroupState,
  encodeKeyPackageMessage,
  epochAuthenticator,
  generateKeyPackage,
  generateSignatureKeyPair,
  joinGroup,
  members,
  processCommit,
  validateKeyPackage,
  type GroupState,
  type KeyPackage,
  type MlsContext,
} from '../../../src/mls';
import { clientConfigFor } from '../../../src/mls/context';
import { DEVICE_COLLECTION_NSID, KEY_PACKAGE, KEY_PACKAGE_COLLECTION_NSID, recordJson } from '../../../src/protocol/records';
import { aliceState, bobState, deviceRecordJson, fixtureContext, mlsFixture } from '../lib/fixtures';
import { ACCEPTED, check, rejected, type FuzzTarget, type Verdict } from '../lib/harness';
import { mutateBytes, mutateOrKeep } from '../lib/mutate-bytes';
import { mutateValue } from '../lib/mutate-value';
import type { Rng } from '../lib/prng';

/** What a receiver may answer to a bad group message (src/mls/errors.ts). */
const GROUP_MESSAGE_CODES = ['MlsDecode', 'UnexpectedMessage', 'WrongGroup', 'StaleEpoch', 'FutureEpoch', 'MlsRejected', 'NotMember', 'UntrustedCredential'];

let context: Promise<MlsContext> | undefined;
const ctx = () => (context ??= fixtureContext());

/**
 * Runs `op` on a fresh decode of bob's state and checks the state object it was given is
 * unchanged afterwards, accepted or not (state in, state out: a rejected input must leave
 * nothing behind, and an accepted one must not alter the old state either).
 */
async function onBobState<T>(op: (state: GroupState) => Promise<T>): Promise<T> {
  const state = bobState(await ctx());
  const before = encodeGroupState(state);
  try {
    return await op(state);
  } finally {
    check(bytesEqual(encodeGroupState(state), before), 'the input group state was changed');
  }
}

interface BytesCase {
  bytes: Uint8Array;
  ops: string[];
}

function groupMessages(): Uint8Array[] {
  const g = mlsFixture().group;
  return [g.application, g.commits.update, g.commits.add, g.commits.remove];
}

// ---------------------------------------------------------------------------------------------

type ApplicationCase = BytesCase & { crafted?: 'proposal' | 'aad' | 'plain' };

/** Application messages into decryptApplicationMessage: altered bytes, or crafted by alice. */
export const mlsApplication: FuzzTarget<ApplicationCase> = {
  name: 'mls.application',
  allowed: GROUP_MESSAGE_CODES,
  generate(rng) {
    if (rng.chance(0.1)) {
      return { bytes: rng.bytes(rng.int(64)), crafted: rng.pick(['proposal', 'aad', 'plain'] as const), ops: [] };
    }
    const m = mutateOrKeep(rng, mlsFixture().group.application, groupMessages());
    return { bytes: m.bytes, ops: m.ops };
  },
  async run({ bytes, crafted }) {
    const c = await ctx();
    let message = bytes;
    let expected = mlsFixture().group.content;
    if (crafted) {
      // A member (alice) sends something else than plain application data: a standalone
      // proposal, or application data with authenticated data (AAD) attached.
      const alice = { ...aliceState(c), clientConfig: clientConfigFor(c) };
      if (crafted === 'proposal') {
        const p = await createProposal(alice, false, { proposalType: 'remove', remove: { removed: 2 } }, c.suite.impl);
        message = encodeMlsMessage(p.message);
      } else {
        const m = await createApplicationMessage(alice, bytes, c.suite.impl, crafted === 'aad' ? bytes : undefined);
        message = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: m.privateMessage });
        expected = bytes;
      }
    }
    const result = await onBobState((state) => decryptApplicationMessage(c, state, message));
    check(bytesEqual(result.plaintext, expected), 'decrypted to other plaintext');
    check(result.sender.leafIndex === 0 && result.sender.identity === mlsFixture().devices.alice.uri, 'wrong sender');
    check(result.epoch === 1n, 'wrong epoch');
    return ACCEPTED;
  },
  describe: ({ crafted, ops }) => (crafted ? `crafted ${crafted}` : ops.join('; ')),
};

// ---------------------------------------------------------------------------------------------

let references: Promise<Map<string, string>> | undefined;
/** Epoch authenticator of bob's state after each genuine commit, by the commit's name. */
function commitReferences(): Promise<Map<string, string>> {
  references ??= (async () => {
    const c = await ctx();
    const out = new Map<string, string>();
    for (const [name, commit] of Object.entries(mlsFixture().group.commits)) {
      out.set(toHex(epochAuthenticator((await processCommit(c, bobState(c), commit)).newState)), name);
    }
    return out;
  })();
  return references;
}

let evePackage: Promise<KeyPackage> | undefined;
/** A KeyPackage of a device no repo vouches for. */
function untrustedPackage(): Promise<KeyPackage> {
  evePackage ??= (async () => {
    const c = await ctx();
    const identity = deviceUri({ did: `did:plc:${'e'.repeat(24)}`, rkey: '3kfezzzzzzzzz' });
    return (await generateKeyPackage(c, { identity, signatureKeyPair: await generateSignatureKeyPair(c.suite) })).keyPackage;
  })();
  return evePackage;
}

type ProposalSpec =
  | 'add-dave'
  | 'add-carol-again'
  | 'add-bob-again'
  | 'add-untrusted'
  | 'remove-carol'
  | 'remove-bob'
  | 'remove-self'
  | 'remove-absent'
  | 'gce-conversation'
  | 'custom'
  | 'reinit';

const PROPOSALS: ProposalSpec[] = [
  'add-dave',
  'add-carol-again',
  'add-bob-again',
  'add-untrusted',
  'remove-carol',
  'remove-bob',
  'remove-self',
  'remove-absent',
  'gce-conversation',
  'custom',
  'reinit',
];

async function proposal(spec: ProposalSpec, c: MlsContext): Promise<Proposal> {
  const kp = (name: 'dave' | 'carol' | 'bob') => decodeKeyPackageMessage(mlsFixture().keyPackages[name].encoded);
  switch (spec) {
    case 'add-dave':
      return { proposalType: 'add', add: { keyPackage: kp('dave') } };
    case 'add-carol-again':
      return { proposalType: 'add', add: { keyPackage: kp('carol') } };
    case 'add-bob-again':
      return { proposalType: 'add', add: { keyPackage: kp('bob') } };
    case 'add-untrusted':
      return { proposalType: 'add', add: { keyPackage: await untrustedPackage() } };
    case 'remove-carol':
      return { proposalType: 'remove', remove: { removed: 2 } };
    case 'remove-bob':
      return { proposalType: 'remove', remove: { removed: 1 } };
    case 'remove-self':
      return { proposalType: 'remove', remove: { removed: 0 } };
    case 'remove-absent':
      return { proposalType: 'remove', remove: { removed: 9 } };
    case 'gce-conversation':
      // Rebinding the group to another conversation (§6.8) is not a v1 commit.
      return {
        proposalType: 'group_context_extensions',
        groupContextExtensions: { extensions: [{ extensionType: CONVERSATION_EXTENSION_TYPE, extensionData: new TextEncoder().encode('3kotherconvo2') }] },
      };
    case 'custom':
      return { proposalType: 0xf0f0, proposalData: new Uint8Array([1, 2, 3]) };
    case 'reinit':
      return {
        proposalType: 'reinit',
        reinit: { groupId: new Uint8Array(32).fill(4), version: 'mls10', cipherSuite: c.suite.name, extensions: [] },
      };
  }
}

/**
 * ts-mls checks the lifetime of KeyPackages a sender commits with Date.now(); the fixture's
 * packages are valid at the fixture's time, so the sender builds at that time, whenever the
 * tests run (receivers use the fixture clock already).
 */
async function atFixtureTime<T>(build: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => mlsFixture().now;
  try {
    return await build();
  } finally {
    Date.now = realNow;
  }
}

type CommitCase = BytesCase & { crafted?: { proposals: ProposalSpec[]; publicMessage: boolean; treeExtension: boolean } };

/**
 * Commits into processCommit: the genuine ones altered, or commits alice builds with any mix of
 * proposals. Only Add/Remove commits are v1 (anything else must be refused), and an accepted
 * commit must leave bob in the same epoch as its author.
 */
export const mlsCommit: FuzzTarget<CommitCase> = {
  name: 'mls.commit',
  allowed: [...GROUP_MESSAGE_CODES, 'KeyPackageExpired', 'SenderRefused'],
  generate(rng: Rng) {
    if (rng.chance(0.3)) {
      const n = rng.pick([0, 1, 1, 2, 3]);
      return {
        bytes: new Uint8Array(),
        ops: [],
        crafted: {
          proposals: Array.from({ length: n }, () => rng.pick(PROPOSALS)),
          publicMessage: rng.chance(0.1),
          treeExtension: rng.chance(0.2),
        },
      };
    }
    const g = mlsFixture().group.commits;
    const m = mutateOrKeep(rng, rng.pick([g.update, g.add, g.remove]), groupMessages());
    return { bytes: m.bytes, ops: m.ops };
  },
  async run({ bytes, crafted }): Promise<Verdict> {
    const c = await ctx();
    if (!crafted) {
      const result = await onBobState((state) => processCommit(c, state, bytes));
      const matched = (await commitReferences()).get(toHex(epochAuthenticator(result.newState)));
      check(matched !== undefined, 'an altered commit was accepted into an epoch no genuine commit leads to');
      return ACCEPTED;
    }
    let made;
    try {
      // A malicious member asks nobody: its config trusts every credential.
      const alice = { ...aliceState(c), clientConfig: clientConfigFor({ ...c, auth: async () => true }) };
      const proposals = await Promise.all(crafted.proposals.map((p) => proposal(p, c)));
      made = await atFixtureTime(() =>
        createCommit(
          { state: alice, cipherSuite: c.suite.impl, pskIndex: emptyPskIndex },
          { extraProposals: proposals, ratchetTreeExtension: crafted.treeExtension, wireAsPublicMessage: crafted.publicMessage },
        ),
      );
    } catch {
      // The sender's own library would not build it: nothing reaches bob.
      return rejected('SenderRefused');
    }
    const result = await onBobState((state) => processCommit(c, state, encodeMlsMessage(made.commit)));
    check(
      crafted.proposals.every((p) => p.startsWith('add-') || p.startsWith('remove-')),
      `accepted a commit with proposals v1 does not use: ${crafted.proposals.join(',')}`,
    );
    const removesBob = crafted.proposals.includes('remove-bob');
    check(result.removedSelf === removesBob, removesBob ? 'bob was removed but does not know it' : 'bob thinks he was removed');
    // A removed member cannot reach the new epoch (that is the point); the others must agree on it.
    if (removesBob) return ACCEPTED;
    check(bytesEqual(epochAuthenticator(result.newState), epochAuthenticator(made.newState)), 'bob and the committer disagree on the new epoch');
    const roster = (s: GroupState) => members(s).map((m) => `${m.leafIndex}:${m.identity}`).join(' ');
    check(roster(result.newState) === roster(made.newState), 'bob and the committer disagree on the members');
    return ACCEPTED;
  },
  describe: ({ crafted, ops }) => (crafted ? `crafted ${JSON.stringify(crafted)}` : ops.join('; ')),
};

// ---------------------------------------------------------------------------------------------

interface WelcomeCase {
  who: 'bob' | 'dave';
  welcome: Uint8Array;
  ratchetTree: Uint8Array | undefined;
  ops: string[];
}

let joinReferences: Promise<Record<'bob' | 'dave', string>> | undefined;
function joinReference(): Promise<Record<'bob' | 'dave', string>> {
  joinReferences ??= (async () => {
    const c = await ctx();
    const g = mlsFixture().group;
    const daveState = (await processCommit(c, bobState(c), g.commits.add)).newState;
    return { bob: toHex(epochAuthenticator(bobState(c))), dave: toHex(epochAuthenticator(daveState)) };
  })();
  return joinReferences;
}

/** Welcomes and ratchet trees into joinGroup with the package they were made for. */
export const mlsWelcome: FuzzTarget<WelcomeCase> = {
  name: 'mls.welcome',
  allowed: ['MlsDecode', 'UnexpectedMessage', 'UnsupportedCipherSuite', 'WelcomeNotForUs', 'MlsRejected', 'UntrustedCredential', 'KeyPackageExpired'],
  generate(rng) {
    const g = mlsFixture().group;
    const who = rng.pick(['bob', 'dave'] as const);
    const welcome = who === 'bob' ? g.welcome : g.daveWelcome;
    const tree = who === 'bob' ? g.ratchetTree : g.daveRatchetTree;
    const all = [g.welcome, g.daveWelcome, g.ratchetTree, g.daveRatchetTree];
    const part = rng.weighted([
      [6, 'welcome'],
      [3, 'tree'],
      [1, 'no tree'],
    ] as const);
    if (part === 'no tree') return { who, welcome, ratchetTree: undefined, ops: ['no tree'] };
    const m = mutateOrKeep(rng, part === 'welcome' ? welcome : tree, all);
    return part === 'welcome'
      ? { who, welcome: m.bytes, ratchetTree: tree, ops: m.ops.map((o) => `welcome ${o}`) }
      : { who, welcome, ratchetTree: m.bytes, ops: m.ops.map((o) => `tree ${o}`) };
  },
  async run({ who, welcome, ratchetTree }) {
    const c = await ctx();
    const kp = mlsFixture().keyPackages[who];
    const state = await joinGroup(c, {
      welcome,
      ratchetTree,
      keyPackage: decodeKeyPackageMessage(kp.encoded),
      privateKeyPackage: kp.privateKeyPackage,
    });
    check(toHex(epochAuthenticator(state)) === (await joinReference())[who], 'joined an epoch the genuine Welcome does not lead to');
    return ACCEPTED;
  },
  describe: ({ who, ops }) => `${who}: ${ops.join('; ')}`,
};

// ---------------------------------------------------------------------------------------------

const KEY_PACKAGE_CODES = ['MlsDecode', 'UnexpectedMessage', 'UnsupportedCipherSuite', 'MlsRejected', 'KeyPackageExpired', 'UntrustedCredential'];

function packages(): Uint8Array[] {
  const k = mlsFixture().keyPackages;
  return [k.dave.encoded, k.bob.encoded, k.bobLastResort.encoded, k.carol.encoded];
}

/** KeyPackages as published, altered: decoded strictly and validated like a committer does. */
export const mlsKeyPackage: FuzzTarget<BytesCase & { original: number }> = {
  name: 'mls.keyPackage',
  allowed: KEY_PACKAGE_CODES,
  generate(rng) {
    const all = packages();
    const original = rng.int(all.length);
    const m = mutateOrKeep(rng, all[original]!, [...all, mlsFixture().group.welcome]);
    return { bytes: m.bytes, ops: m.ops, original };
  },
  async run({ bytes, original }) {
    const c = await ctx();
    const keyPackage = decodeKeyPackageMessage(bytes);
    const identity = await validateKeyPackage(c, keyPackage);
    // Signed from end to end: only the genuine bytes (and identity) can pass.
    check(bytesEqual(encodeKeyPackageMessage(keyPackage), packages()[original]!), 'a validated key package re-encodes to other bytes');
    check(bytesEqual(bytes, packages()[original]!), 'validated a key package whose bytes differ from the signed ones');
    check(Object.values(mlsFixture().devices).some((d) => d.uri === identity), 'validated an identity that is not a fixture device');
    return ACCEPTED;
  },
  describe: ({ original, ops }) => `package ${original}: ${ops.join('; ')}`,
};

interface DirectoryCase {
  records: RepoRecord[];
  ops: string[];
}

/**
 * The key-package directory over a repo publishing dave's device and mutated keyPackage records:
 * it never throws for bad records (they are listed as skipped with a typed code), and a package
 * it chooses is exactly the published one.
 */
export const keyPackageDirectory: FuzzTarget<DirectoryCase> = {
  name: 'keyPackage.directory',
  allowed: ['NoPackage'],
  generate(rng) {
    const f = mlsFixture();
    const dave = f.devices.dave;
    const genuine = recordJson(
      KEY_PACKAGE,
      KEY_PACKAGE.$build({
        keyPackage: f.keyPackages.dave.encoded,
        device: dave.rkey,
        cipherSuite: CIPHER_SUITE_ID,
        createdAt: new Date(f.now).toISOString() as never,
        expiresAt: new Date(f.keyPackages.dave.notAfter).toISOString() as never,
        lastResort: false,
      }),
    ) as Record<string, unknown>;
    const ops: string[] = [];
    const records: RepoRecord[] = [];
    const count = rng.range(1, 3);
    for (let i = 0; i < count; i++) {
      let value: unknown = genuine;
      if (rng.chance(0.5)) {
        const m = mutateValue(rng, genuine, 'json');
        value = m.value;
        ops.push(...m.ops.map((o) => `#${i} ${o}`));
      } else {
        const m = mutateBytes(rng, f.keyPackages.dave.encoded, packages());
        value = { ...genuine, keyPackage: { $bytes: Buffer.from(m.bytes).toString('base64').replace(/=+$/, '') } };
        ops.push(...m.ops.map((o) => `#${i} keyPackage ${o}`));
      }
      const rkey = `3kfkp${'abcdefgh'[i]}zzzzzzz`;
      records.push({ uri: `at://${dave.did}/${KEY_PACKAGE_COLLECTION_NSID}/${rkey}`, cid: `bafyreikp${i}`, rkey, value });
    }
    return { records, ops };
  },
  async run({ records }) {
    const dave = mlsFixture().devices.dave;
    const repos: PublicRepos = {
      listRecords: async (did, collection) =>
        did !== dave.did
          ? []
          : collection === DEVICE_COLLECTION_NSID
            ? [{ uri: `at://${dave.did}/${DEVICE_COLLECTION_NSID}/${dave.rkey}`, cid: 'bafyreidev', rkey: dave.rkey, value: deviceRecordJson(dave) }]
            : collection === KEY_PACKAGE_COLLECTION_NSID
              ? records
              : [],
      listRecordsAfter: async () => ({ records: [] }),
      getBlob: async () => new Uint8Array(),
    };
    const found = await findKeyPackages({ publicRepos: repos, mls: await ctx() }, dave.did);
    const unknown = found.skipped.filter((s) => s.code === 'Unknown');
    check(unknown.length === 0, `records skipped without a typed code: ${unknown.map((u) => u.uri).join(', ')}`);
    check(found.keyPackages.length + found.devicesWithout.length === 1, 'dave is not accounted for exactly once');
    if (found.keyPackages.length === 0) return rejected('NoPackage');
    check(
      bytesEqual(encodeKeyPackageMessage(found.keyPackages[0]!.keyPackage), mlsFixture().keyPackages.dave.encoded),
      'the directory chose a package other than the published one',
    );
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; ').slice(0, 400),
};
