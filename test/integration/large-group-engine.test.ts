import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/bytes';
import { createAuthenticationService } from '../../src/engine/authentication-service';
import { createDeliveryEngine, type DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';
import type { GroupRecord } from '../../src/engine/delivery-state';
import { ensureDevice } from '../../src/engine/device-registration';
import { DEFAULT_POOL_POLICY, replenishKeyPackages } from '../../src/engine/key-package-pool';
import { mlsAuthService } from '../../src/engine/mls-auth';
import type { KeyPackageSecret, KeyPackageStore, LocalDevice, OwnRepo, PublicRepos, RecordProver, RepoRecord } from '../../src/engine/ports';
import { newTid } from '../../src/engine/tid';
import { createSuite, decodeGroupState, epochAuthenticator, members, type MlsContext, type MlsSuite } from '../../src/mls';
import { openAtmDb } from '../../src/store/db';
import { idbDeliveryStore } from '../../src/store/delivery-store';
import { idbKeyPackageStore } from '../../src/store/device-store';
import { MemoryRepo } from '../unit/engine/memory-repo';
import { clock } from './device-harness';
import { expectUnreadableAfter } from './unreadable';

// The engine with a 1,000-member group. A real PDS with 1,000 accounts does not fit in
// this suite's time, so repos here are in memory (test/unit/engine/memory-repo.ts) and the
// Authentication Service reads device records from them without a CAR proof; proofs, listings
// and the PDS are covered at 50 members in group-convo.test.ts. Everything else is the real
// engine over fake-indexeddb: group creation for 1,000 devices, stealth invites, joins, messages,
// membership changes from the conversation's member list, a self-update, and removed members
// failing to decrypt what follows.

/** 1,000 with `npm run test:scale`; smaller in `npm test`, where the suite's time is shared. */
const N = Number(process.env.ATM_SCALE_MEMBERS ?? 100);
const LIVE = 4;

/** Every DID's repo, readable by anyone (what listRecords/getRecord give on the network). */
class MemoryNetwork implements PublicRepos, RecordProver {
  readonly repos = new Map<string, MemoryRepo>();
  repo(did: string): MemoryRepo {
    let repo = this.repos.get(did);
    if (!repo) this.repos.set(did, (repo = new MemoryRepo(did)));
    return repo;
  }
  listRecords(did: string, collection: string, options?: { max?: number }): Promise<RepoRecord[]> {
    return this.repo(did).listRecords(did, collection, options);
  }
  listRecordsAfter(did: string, collection: string, after: string | undefined, limit: number) {
    return this.repo(did).listRecordsAfter(did, collection, after, limit);
  }
  getBlob(did: string, cid: string) {
    return this.repo(did).getBlob(did, cid);
  }
  async proveRecord(did: string, collection: string, rkey: string) {
    const found = (await this.repo(did).listRecords(did, collection)).find((r) => r.rkey === rkey);
    return found ? { did, collection, rkey, cid: found.cid, json: found.value } : undefined;
  }
}

function memoryKeyPackages(): KeyPackageStore {
  const secrets = new Map<string, KeyPackageSecret>();
  return {
    list: async () => [...secrets.values()],
    get: async (ref: string) => secrets.get(ref),
    put: async (s: KeyPackageSecret) => void secrets.set(s.ref, s),
    delete: async (ref: string) => void secrets.delete(ref),
  };
}

interface Live {
  did: string;
  device: LocalDevice;
  engine: DeliveryEngine;
}

const net = new MemoryNetwork();
const convoId = newTid();
const people = new Set<string>();
let suite: MlsSuite;
let dids: string[];
let live: Live[];
let groupId: string;

/** A distinct did:plc for each i: four base-32 digits (fixed width, so padding never collides). */
const did = (i: number) =>
  `did:plc:${'a'.repeat(20)}${i.toString(32).padStart(4, '0').replace(/[0189]/g, (c) => 'wxyz'['0189'.indexOf(c)]!)}`;

async function register(id: string, repo: OwnRepo, keyPackages = memoryKeyPackages()) {
  const as = createAuthenticationService({ prover: net, clock });
  const mls: MlsContext = { suite, auth: mlsAuthService(as), clock };
  let stored: LocalDevice | undefined;
  const device = await ensureDevice({
    repo,
    devices: { load: async () => stored, save: async (d) => void (stored = d) },
    suite,
    clock,
    newTid,
  });
  await replenishKeyPackages({
    repo,
    publicRepos: net,
    keyPackages,
    device,
    mls,
    newTid,
    policy: { ...DEFAULT_POOL_POLICY, oneTime: 1, lastResort: 0 },
  });
  return { as, mls, device, id };
}

async function startLive(i: number): Promise<Live> {
  const id = dids[i]!;
  const db = await openAtmDb(`large-group-${i}-${newTid()}`);
  const { as, mls, device } = await register(id, net.repo(id), idbKeyPackageStore(db));
  const engine = createDeliveryEngine({
    device,
    mls,
    store: idbDeliveryStore(db),
    repo: net.repo(id),
    publicRepos: net,
    keyPackages: idbKeyPackageStore(db),
    clock,
    newTid,
    policy: DEFAULT_DELIVERY_POLICY,
    as,
    retryPolicy: { baseMs: 0, maxMs: 0 },
    conversationDids: async () => [...people],
  });
  return { did: id, device, engine };
}

const groupOf = async (p: Live): Promise<GroupRecord> => {
  const g = (await p.engine.groups()).find((x) => x.groupId === groupId);
  if (!g) throw new Error(`${p.did} is not in the group`);
  return g;
};
const authenticator = async (p: Live) => toHex(epochAuthenticator(decodeGroupState(p.engine.mlsContext(), (await groupOf(p)).state)));

async function settle(peers: readonly Live[]): Promise<void> {
  for (let round = 0; round < 6; round++) {
    let moved = 0;
    for (const p of peers) moved += (await p.engine.flush()).published.length;
    for (const p of peers) {
      const report = await p.engine.poll(peers.map((x) => x.did));
      moved += report.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
    }
    if (moved === 0) return;
  }
  throw new Error('did not settle');
}

beforeAll(async () => {
  suite = await createSuite();
  dids = Array.from({ length: N + 1 }, (_, i) => did(i));
  live = [];
  for (let i = 0; i < LIVE; i++) live.push(await startLive(i));
  // The passive members: a device record and one key package each, never online.
  for (let i = LIVE; i < N; i++) await register(dids[i]!, net.repo(dids[i]!));
  for (const d of dids.slice(0, N)) people.add(d);
}, 600_000);

const lap = (() => {
  let t = performance.now();
  return (what: string) => {
    const now = performance.now();
    if (process.env.ATM_SCALE_TIMINGS) console.log(`[scale ${N}] ${what}: ${Math.round(now - t)} ms`);
    t = now;
  };
})();

describe(`a ${N}-member group in the engine`, () => {
  it('is created with every member, and the online members join from their invites', async () => {
    lap('set-up');
    groupId = (await live[0]!.engine.createGroup(dids.slice(0, N), convoId)).groupId;
    lap('createGroup');
    const state = decodeGroupState(live[0]!.engine.mlsContext(), (await groupOf(live[0]!)).state);
    expect(members(state)).toHaveLength(N);
    await live[0]!.engine.flush();
    lap('publish commit and invites');
    await settle(live);
    lap('joins');
    for (const p of live) expect(await authenticator(p)).toBe(await authenticator(live[0]!));
    await live[1]!.engine.sendToConversation(convoId, 'hello, thousand');
    await settle(live);
    for (const p of live) expect((await p.engine.conversationMessages(convoId)).map((m) => m.text)).toEqual(['hello, thousand']);
  }, 600_000);

  it('follows the conversation: 20 leave (one of them online) and a newcomer joins; a self-update follows', async () => {
    const removedLive = live[3]!;
    const leavers = [removedLive.did, ...dids.slice(LIVE, LIVE + 19)];
    for (const d of leavers) people.delete(d);
    const newcomer = await startLive(N);
    people.add(newcomer.did);
    const staying = [live[0]!, live[1]!, live[2]!];

    clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
    for (const p of staying) await p.engine.poll(); // the read that makes the epoch final (§6.7)
    lap('set-up of the changes');
    for (const p of staying) await p.engine.maintain();
    lap('review and commit the changes');
    await settle([...staying, removedLive, newcomer]);
    lap('the changes reach every online device');
    // Whoever's turn it was committed every change at once.
    const state = decodeGroupState(live[0]!.engine.mlsContext(), (await groupOf(live[0]!)).state);
    const present = new Set(members(state).map((m) => m.identity.split('/')[2]));
    expect(members(state)).toHaveLength(N - leavers.length + 1);
    for (const d of leavers) expect(present.has(d)).toBe(false);
    expect(present.has(newcomer.did)).toBe(true);
    expect((await groupOf(removedLive)).active).toBe(false);

    clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
    await live[2]!.engine.poll();
    await live[2]!.engine.selfUpdate(groupId);
    await settle([...staying, newcomer]);
    lap('a self-update, processed by every online device');
    const everyone = [...staying, newcomer];
    for (const p of everyone) expect(await authenticator(p)).toBe(await authenticator(live[0]!));

    const afterRemoval = newTid();
    await newcomer.engine.sendToConversation(convoId, 'after the changes');
    await settle([...everyone, removedLive]);
    lap('a message after the changes');
    for (const p of everyone) {
      expect((await p.engine.conversationMessages(convoId)).map((m) => m.text)).toContain('after the changes');
    }
    expect((await removedLive.engine.messages(groupId)).map((m) => m.text)).toEqual(['hello, thousand']);
    // Every later event fails to open with every epoch key the removed member still holds.
    const authors = everyone.map((p) => p.did);
    const tried = await expectUnreadableAfter(net, await groupOf(removedLive), authors, afterRemoval);
    expect(tried.attempts).toBeGreaterThan(0);
  }, 900_000);
});
