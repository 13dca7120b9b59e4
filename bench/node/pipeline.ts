import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientConfig,
} from 'ts-mls';
import { pollPeer, type PollReport } from '../../src/engine/inbox';
import { sendText } from '../../src/engine/send';
import type { PublicRepos, RepoRecord } from '../../src/engine/ports';
import { EVENT_COLLECTION_NSID } from '../../src/protocol/records';
import { createSuite } from '../../src/mls';
import { repeat, type Sample } from '../lib/measure';
import type { World } from './world';

const TEXT = 'The quick brown fox jumps over the lazy dog, and then asks for a coffee. '.repeat(2);

/**
 * One text message through the whole pipeline, without the network: alice's sendText (content
 * codec, MLS encrypt, tag, envelope with padding, the group state and outbox item written to her
 * IndexedDB in one transaction), then bob's inbox step for that record (lexicon parse, tag match,
 * envelope open, MLS decrypt, content decode, message + state + cursor written in one
 * transaction). Bob reads alice's record from memory instead of over HTTP; the PDS round trip
 * is the latency row's business.
 */
export async function pipelineRoundTrip(world: World, runs: number): Promise<Sample> {
  const { alice, bob, groupId } = world;
  let pending: RepoRecord[] = [];
  const memoryRepos: PublicRepos = {
    ...bob.deps.publicRepos,
    async listRecordsAfter(did, collection, afterRkey) {
      if (did !== alice.account.did || collection !== EVENT_COLLECTION_NSID) return { records: [] };
      const records = pending.filter((r) => afterRkey === undefined || r.rkey > afterRkey);
      return { records };
    },
  };
  const bobDeps = { ...bob.deps, publicRepos: memoryRepos };
  return repeat(
    runs,
    async () => {
      const { changes } = await sendText(alice.deps, groupId, TEXT);
      await alice.deps.store.apply(changes);
      const item = changes.putOutbox![0]!;
      pending = [{ uri: `at://${alice.account.did}/${item.collection}/${item.rkey}`, cid: 'bafy', rkey: item.rkey, value: item.record }];
      const report: PollReport = { processed: 0, outcomes: [], unreachable: [] };
      await pollPeer(bobDeps, alice.account.did, report);
      if (report.outcomes[0]?.kind !== 'message') throw new Error(`bob did not read the message: ${JSON.stringify(report.outcomes)}`);
    },
    3,
  );
}

const config = (): ClientConfig => ({
  keyRetentionConfig: { retainKeysForEpochs: 2, retainKeysForGenerations: 64, maximumForwardRatchetSteps: 200 },
  lifetimeConfig: { maximumTotalLifetime: 2_628_000n, validateLifetimeOnReceive: false },
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: { kind: 'padUntilLength', padUntilLength: 0 },
  authService: { validateCredential: async () => true },
});

/**
 * The reference: raw ts-mls, a two-member group, createApplicationMessage by one member and
 * processPrivateMessage by the other, states kept in memory. `suite` picks ts-mls's own suite
 * implementation (as an application would get it) or ours (same, with the cached signing keys).
 */
export async function rawTsMlsRoundTrip(runs: number, which: 'ts-mls default suite' | 'our suite'): Promise<Sample> {
  const cs: CiphersuiteImpl =
    which === 'our suite'
      ? (await createSuite()).impl
      : await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
  const cred = (name: string) => ({ credentialType: 'basic' as const, identity: new TextEncoder().encode(name) });
  const a = await generateKeyPackage(cred('alice'), defaultCapabilities(), defaultLifetime, [], cs);
  const b = await generateKeyPackage(cred('bob'), defaultCapabilities(), defaultLifetime, [], cs);
  let alice = await createGroup(crypto.getRandomValues(new Uint8Array(32)), a.publicPackage, a.privatePackage, [], cs, config());
  const add = await createCommit(
    { state: alice, cipherSuite: cs, pskIndex: emptyPskIndex },
    { extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }] },
  );
  alice = add.newState;
  let bob = await joinGroup(add.welcome!, b.publicPackage, b.privatePackage, emptyPskIndex, cs, alice.ratchetTree, undefined, config());
  const plaintext = new TextEncoder().encode(TEXT);
  return repeat(
    runs,
    async () => {
      const sent = await createApplicationMessage(alice, plaintext, cs);
      alice = sent.newState;
      const got = await processPrivateMessage(bob, sent.privateMessage, emptyPskIndex, cs);
      if (got.kind !== 'applicationMessage') throw new Error('expected an application message');
      bob = got.newState;
    },
    3,
  );
}
