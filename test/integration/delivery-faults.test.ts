import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import { toHex } from '../../src/bytes';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import type { ChangeSet, DeliveryStore } from '../../src/engine/delivery-state';
import type { PollReport } from '../../src/engine/inbox';
import type { OwnRepo, PublicRepos, RepoRecord } from '../../src/engine/ports';
import { newTid } from '../../src/engine/tid';
import { AtmError } from '../../src/errors';
import { decodeGroupState, epoch, epochAuthenticator, welcomeRecipients } from '../../src/mls';
import { openInviteBundle, tryOpenInvite, type OpenedInvite } from '../../src/protocol/invite';
import { eventByRkey } from '../../src/engine/event-bytes';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord } from '../../src/protocol/records';
import type { AtmDb } from '../../src/store/db';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';

// Crashes: "Stopping the engine between any two steps of a send, a commit or a join,
// then restarting it, loses nothing and duplicates nothing", against the real PLC + PDS.
//
// A stop throws the in-memory engine away at that point: from then on every call it makes to its
// store, its repo or the public repos fails before doing anything (a transaction already issued
// still commits, as it would in a real crash), its in-flight promise is ignored, its IndexedDB
// connection is closed, and a new engine is built from the same IndexedDB.

const net = attachNetwork(viInject('network'));

/** The Welcome an opened invite holds, from the bundle in the inviter's repo when it names one. */
async function welcomeIn(opened: OpenedInvite, did: string, publicRepos: PublicRepos): Promise<Uint8Array> {
  if (opened.kind === 'direct') return opened.welcome;
  const bundle = await eventByRkey({ publicRepos }, did, opened.rkey);
  if (!bundle) throw new Error(`bundle ${opened.rkey} is not in ${did}'s repo`);
  return (await openInviteBundle(opened.key, bundle.tag, bundle.ciphertext)).welcome;
}

type Name = 'alice1' | 'alice2' | 'bob1' | 'bob2';
const MEMBERS: Name[] = ['alice1', 'alice2', 'bob1', 'bob2'];

class Stopped extends Error {
  override readonly name = 'Stopped';
}

/** Fault hooks of one engine incarnation; each may throw (use `stop` to make it a crash). */
interface Faults {
  /** After the PDS accepted a putRecord, before the engine hears of it. */
  afterPut?: (collection: string, rkey: string) => void;
  /** After listRecordsAfter answered, before the engine sees the page. */
  afterList?: (did: string, records: RepoRecord[]) => void;
  /** Before a ChangeSet is applied (throwing: nothing of it is stored). */
  beforeApply?: (changes: ChangeSet) => void;
  /** After a ChangeSet was committed. */
  afterApply?: (changes: ChangeSet) => void;
}

interface Incarnation {
  engine: DeliveryEngine;
  store: DeliveryStore;
  db: AtmDb;
  dead: boolean;
  faults: Faults;
}

interface Peer {
  name: Name;
  device: TestDevice;
  dbName: string;
  live: Incarnation;
  restarts: number;
}

let accounts: Record<'alice' | 'bob' | 'carol', Account>;
let peers: Record<Name, Peer>;
let carol: TestDevice;

/** Builds an engine over the peer's IndexedDB whose ports obey its incarnation's life and faults. */
async function boot(peer: Pick<Peer, 'device' | 'dbName' | 'name'>): Promise<Incarnation> {
  const base = peer.device;
  let self: Incarnation | undefined;
  const alive = () => {
    if (!self || self.dead) throw new Stopped(`${peer.name}: this engine was stopped`);
  };
  const repo: OwnRepo = {
    did: base.repo.did,
    async putRecord(collection, rkey, record) {
      alive();
      const result = await base.repo.putRecord(collection, rkey, record);
      alive();
      self!.faults.afterPut?.(collection, rkey);
      return result;
    },
    async deleteRecord(collection, rkey) {
      alive();
      return base.repo.deleteRecord(collection, rkey);
    },
    async uploadBlob(bytes) {
      alive();
      return base.repo.uploadBlob(bytes);
    },
  };
  const publicRepos: PublicRepos = {
    async listRecords(did, collection, options) {
      alive();
      return base.publicRepos.listRecords(did, collection, options);
    },
    async listRecordsAfter(did, collection, after, limit) {
      alive();
      const page = await base.publicRepos.listRecordsAfter(did, collection, after, limit);
      alive();
      self!.faults.afterList?.(did, page.records);
      return page;
    },
    async getBlob(did, cid) {
      alive();
      return base.publicRepos.getBlob(did, cid);
    },
  };
  const { engine, store, db } = await deliveryEngineFor({ ...base, repo, publicRepos }, peer.dbName);
  const incarnation: Incarnation = { engine, store, db, dead: false, faults: {} };
  self = incarnation;
  // The engine calls `deps.store.<method>` at each use, and `store` is that very object.
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const key of Object.keys(methods)) {
    const real = methods[key]!;
    methods[key] = async (...args: unknown[]) => {
      alive();
      if (key !== 'apply') return real(...args);
      self!.faults.beforeApply?.(args[0] as ChangeSet);
      await real(...args);
      self!.faults.afterApply?.(args[0] as ChangeSet);
      return undefined;
    };
  }
  return incarnation;
}

/** The crash: the running engine is thrown away; whatever it does next fails. */
function kill(peer: Peer): Stopped {
  peer.live.dead = true;
  return new Stopped(`${peer.name} stopped`);
}

/** Waits for the dead engine's in-flight work to end (ignored), then builds a new engine from the same IndexedDB. */
async function restart(peer: Peer, inFlight?: Promise<unknown>): Promise<void> {
  await inFlight?.catch(() => undefined);
  peer.live.dead = true;
  peer.live.db.close();
  peer.live = await boot(peer);
  peer.restarts++;
}

const engine = (n: Name) => peers[n].live.engine;
const store = (n: Name) => peers[n].live.store;

/** Everyone publishes and reads until nothing moves any more (bounded). */
async function settle(names: readonly Name[] = MEMBERS, contacts: string[] = []): Promise<PollReport['outcomes']> {
  const all: PollReport['outcomes'] = [];
  for (let round = 0; round < 12; round++) {
    let moved = 0;
    for (const n of names) moved += (await engine(n).flush()).published.length;
    for (const n of names) {
      const report = await engine(n).poll(contacts);
      all.push(...report.outcomes);
      moved += report.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
    }
    if (moved === 0) return all;
  }
  throw new Error('did not settle in 12 rounds');
}

async function newGroup(creator: Name = 'alice1'): Promise<string> {
  const owner = creator.startsWith('alice') ? accounts.alice : accounts.bob;
  const other = owner === accounts.alice ? accounts.bob : accounts.alice;
  const { groupId } = await engine(creator).createGroup([other.did]);
  await settle(MEMBERS, [owner.did]);
  for (const n of MEMBERS) expect((await engine(n).groups()).map((g) => g.groupId), n).toContain(groupId);
  // The first epoch is final for everyone, those who joined it included (§6.7): any may commit.
  clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
  for (const n of MEMBERS) await engine(n).poll(); // the read finality needs
  return groupId;
}

const ownerOf = (n: Name) => (n.startsWith('alice') ? accounts.alice : accounts.bob);

/** Every event record's rkey in the DID's repo, as any reader sees it. */
async function eventRkeys(did: string): Promise<string[]> {
  const records = await peers.alice1.device.publicRepos.listRecords(did, EVENT_COLLECTION_NSID, { max: 1000 });
  return records.map((r) => r.rkey);
}

/** Snapshot of both repos, to count the event records written from here on. */
async function repoSnapshot() {
  const before = { alice: new Set(await eventRkeys(accounts.alice.did)), bob: new Set(await eventRkeys(accounts.bob.did)) };
  return {
    /** New records per repo since the snapshot (rkeys are unique by construction of a listing). */
    async added() {
      const now = { alice: await eventRkeys(accounts.alice.did), bob: await eventRkeys(accounts.bob.did) };
      expect(new Set(now.alice).size).toBe(now.alice.length);
      expect(new Set(now.bob).size).toBe(now.bob.length);
      return { alice: now.alice.filter((r) => !before.alice.has(r)), bob: now.bob.filter((r) => !before.bob.has(r)) };
    },
  };
}

/**
 * Exactly once on every member: the group's texts are `expected` (no more, none twice), each
 * sent message is shown as sent, and each text's author is the device that wrote it.
 */
async function expectExactlyOnce(groupId: string, expected: Record<string, Name>) {
  const texts = Object.keys(expected).sort();
  for (const n of MEMBERS) {
    const messages = await engine(n).messages(groupId);
    expect(
      messages.map((m) => m.text).sort(),
      `${n} shows every message exactly once`,
    ).toEqual(texts);
    for (const m of messages) {
      const author = expected[m.text]!;
      expect(m.senderUri, `${n}: author of ${m.text}`).toBe(peers[author].device.device.uri);
      expect(m.own, `${n}: own flag of ${m.text}`).toBe(author === n);
      expect(m.status, `${n}: status of ${m.text}`).toBe('sent');
    }
  }
  for (const n of MEMBERS) expect(await store(n).listOutbox(), `${n}'s outbox`).toEqual([]);
}

async function authenticator(n: Name, groupId: string): Promise<string> {
  const g = (await engine(n).groups()).find((x) => x.groupId === groupId)!;
  const state = decodeGroupState(peers[n].device.mls, g.state);
  return `${epoch(state)}:${toHex(epochAuthenticator(state))}`;
}

async function expectConverged(groupId: string): Promise<string> {
  const all = await Promise.all(MEMBERS.map((n) => authenticator(n, groupId)));
  expect(new Set(all).size, `authenticators ${all.join(' ')}`).toBe(1);
  return all[0]!;
}

beforeAll(async () => {
  const [alice, bob, carolAccount] = await Promise.all(
    ['faultalice', 'faultbob', 'faultcarol'].map((n) => net.createAccount(uniqueName(n))),
  );
  accounts = { alice: alice!, bob: bob!, carol: carolAccount! };
  const agents = {
    alice: await resumeCreationSession(net.pdsUrl, alice!),
    bob: await resumeCreationSession(net.pdsUrl, bob!),
    carol: await resumeCreationSession(net.pdsUrl, carolAccount!),
  };
  const entries = await Promise.all(
    MEMBERS.map(async (name) => {
      const owner = name.slice(0, -1) as 'alice' | 'bob';
      const device = await startDevice(name, agents[owner], accounts[owner].did, net.plcUrl);
      const dbName = `faults-${name}-${newTid()}`;
      const peer = { name, device, dbName, restarts: 0 } as Omit<Peer, 'live'> as Peer;
      peer.live = await boot(peer);
      return [name, peer] as const;
    }),
  );
  peers = Object.fromEntries(entries) as Record<Name, Peer>;
  carol = await startDevice('carol1', agents.carol, carolAccount!.did, net.plcUrl);
});

describe('a send stopped between two steps', () => {
  let groupId: string;
  const sent: Record<string, Name> = {};

  beforeAll(async () => {
    groupId = await newGroup('alice1');
  });

  it('before its transaction: nothing was stored, nothing is published, the next send works', async () => {
    const repos = await repoSnapshot();
    peers.alice1.live.faults.beforeApply = (changes) => {
      if (changes.putMessages?.length) throw kill(peers.alice1);
    };
    const attempt = engine('alice1').sendText(groupId, 'never stored');
    await expect(attempt).rejects.toThrow(Stopped);
    await restart(peers.alice1, attempt);
    expect(await engine('alice1').messages(groupId)).toEqual([]);
    expect(await store('alice1').listOutbox()).toEqual([]);

    await engine('alice1').sendText(groupId, 'a0: after a failed send');
    sent['a0: after a failed send'] = 'alice1';
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect((await repos.added()).alice).toHaveLength(1);
  });

  it('(a) after sendText stored the message and its outbox item, before the flush', async () => {
    const repos = await repoSnapshot();
    const message = await engine('alice1').sendText(groupId, 'a: stored, not flushed');
    sent[message.text] = 'alice1';
    const [item] = await store('alice1').listOutbox();
    expect(item?.message).toEqual({ groupId, id: message.id });
    kill(peers.alice1);
    await restart(peers.alice1);

    expect((await engine('alice1').messages(groupId)).find((m) => m.id === message.id)?.status).toBe('sending');
    expect((await store('alice1').listOutbox()).map((i) => i.rkey)).toEqual([item!.rkey]);
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await repos.added()).toEqual({ alice: [item!.rkey], bob: [] });
  });

  it('(b) after the PDS accepted the putRecord, before the outbox item was deleted (lost acknowledgement)', async () => {
    const repos = await repoSnapshot();
    const message = await engine('alice2').sendText(groupId, 'b: acknowledgement lost');
    sent[message.text] = 'alice2';
    const [item] = await store('alice2').listOutbox();
    peers.alice2.live.faults.afterPut = () => {
      throw kill(peers.alice2);
    };
    const flush = engine('alice2').flush();
    await restart(peers.alice2, flush);

    // The record is in the repo, yet the device still holds it as unsent.
    expect(await repos.added()).toEqual({ alice: [item!.rkey], bob: [] });
    expect((await store('alice2').listOutbox()).map((i) => i.rkey)).toEqual([item!.rkey]);
    expect((await engine('alice2').messages(groupId)).find((m) => m.id === message.id)?.status).toBe('sending');
    // A reader may see the record before the author re-publishes it.
    await engine('bob1').poll();
    expect((await engine('bob1').messages(groupId)).map((m) => m.text)).toContain(message.text);

    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await repos.added()).toEqual({ alice: [item!.rkey], bob: [] });
  });

  it('(b\') a lost acknowledgement reported as a network error is retried under the same rkey, without a duplicate', async () => {
    const repos = await repoSnapshot();
    const message = await engine('bob2').sendText(groupId, "b': acknowledgement lost, no restart");
    sent[message.text] = 'bob2';
    const [item] = await store('bob2').listOutbox();
    let lost = 0;
    peers.bob2.live.faults.afterPut = () => {
      if (lost++ === 0) throw new AtmError('Network', 'connection reset after the write');
    };
    const first = await engine('bob2').flush();
    expect(first.deferred).toEqual([item!.rkey]);
    expect(await repos.added()).toEqual({ alice: [], bob: [item!.rkey] });
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await repos.added()).toEqual({ alice: [], bob: [item!.rkey] });
    peers.bob2.live.faults = {};
  });

  it('(c) receiver stopped after listRecordsAfter returned, before processing', async () => {
    const message = await engine('bob1').sendText(groupId, 'c: read, not processed');
    sent[message.text] = 'bob1';
    await engine('bob1').flush();
    const cursor = await store('alice1').getCursor(accounts.bob.did);
    peers.alice1.live.faults.afterList = (did, records) => {
      if (did === accounts.bob.did && records.length > 0) throw kill(peers.alice1);
    };
    const poll = engine('alice1').poll();
    await restart(peers.alice1, poll);
    expect(await store('alice1').getCursor(accounts.bob.did)).toEqual(cursor);
    expect((await engine('alice1').messages(groupId)).map((m) => m.text)).not.toContain(message.text);

    await settle();
    await expectExactlyOnce(groupId, sent);
  });

  it('(c\') receiver stopped between two events of one page', async () => {
    const repos = await repoSnapshot();
    for (const t of ['c2: first of two', 'c2: second of two']) {
      await engine('bob2').sendText(groupId, t);
      sent[t] = 'bob2';
    }
    await engine('bob2').flush();
    let applied = 0;
    peers.alice2.live.faults.afterApply = (changes) => {
      if (changes.putCursors?.some((c) => c.did === accounts.bob.did) && changes.putMessages?.length && ++applied === 1) {
        throw kill(peers.alice2);
      }
    };
    const poll = engine('alice2').poll();
    await restart(peers.alice2, poll);
    expect((await engine('alice2').messages(groupId)).map((m) => m.text)).toContain('c2: first of two');
    expect((await engine('alice2').messages(groupId)).map((m) => m.text)).not.toContain('c2: second of two');

    await settle();
    await expectExactlyOnce(groupId, sent);
    const texts = (await engine('alice2').messages(groupId)).map((m) => m.text);
    expect(texts.indexOf('c2: first of two')).toBeLessThan(texts.indexOf('c2: second of two'));
    expect((await repos.added()).bob).toHaveLength(2);
  });

  it('(d) a failed ChangeSet apply does not move the cursor; the event is processed on the next poll', async () => {
    const message = await engine('bob1').sendText(groupId, 'd: apply failed once');
    sent[message.text] = 'bob1';
    await engine('bob1').flush();
    const cursor = await store('alice1').getCursor(accounts.bob.did);
    let failures = 0;
    peers.alice1.live.faults.beforeApply = (changes) => {
      if (changes.putMessages?.some((m) => m.id === message.id) && failures++ === 0) {
        throw new DOMException('the disk is full', 'QuotaExceededError');
      }
    };
    await engine('alice1').poll().catch(() => undefined);
    expect(failures).toBe(1);
    expect(await store('alice1').getCursor(accounts.bob.did)).toEqual(cursor);
    expect((await engine('alice1').messages(groupId)).map((m) => m.text)).not.toContain(message.text);

    const next = await engine('alice1').poll();
    expect(next.outcomes.filter((o) => o.kind === 'message').map((o) => o.kind === 'message' && o.message.text)).toEqual([
      message.text,
    ]);
    expect((await store('alice1').getCursor(accounts.bob.did))?.rkey).not.toBe(cursor?.rkey);
    peers.alice1.live.faults = {};
    await settle();
    await expectExactlyOnce(groupId, sent);
  });
});

describe('a commit (self-update) stopped between two steps', () => {
  it('before the flush (and a receiver stopped after reading it): every device converges and reads what follows', async () => {
    const groupId = await newGroup('bob1');
    const before = await expectConverged(groupId);
    const repos = await repoSnapshot();
    await engine('alice2').selfUpdate(groupId);
    const [commit] = await store('alice2').listOutbox();
    expect(commit).toBeDefined();
    kill(peers.alice2);
    await restart(peers.alice2);
    expect((await store('alice2').listOutbox()).map((i) => i.rkey)).toEqual([commit!.rkey]);
    await engine('alice2').flush();

    // bob2 is stopped right after fetching the commit, before processing it.
    peers.bob2.live.faults.afterList = (did, records) => {
      if (did === accounts.alice.did && records.some((r) => r.rkey === commit!.rkey)) throw kill(peers.bob2);
    };
    const poll = engine('bob2').poll();
    await restart(peers.bob2, poll);
    expect(await authenticator('bob2', groupId), 'bob2 stopped before applying the commit').toBe(before);

    await settle();
    const after = await expectConverged(groupId);
    expect(after).not.toBe(before);
    expect(BigInt(after.split(':')[0]!)).toBe(BigInt(before.split(':')[0]!) + 1n);
    expect(await repos.added()).toEqual({ alice: [commit!.rkey], bob: [] });

    const sent: Record<string, Name> = {};
    for (const n of MEMBERS) {
      await engine(n).sendText(groupId, `after commit from ${n}`);
      sent[`after commit from ${n}`] = n;
    }
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await expectConverged(groupId)).toBe(after);
    const added = await repos.added();
    expect(added.alice).toHaveLength(3);
    expect(added.bob).toHaveLength(2);
  });

  it('after a lost acknowledgement: every device converges and reads what follows', async () => {
    const groupId = await newGroup('alice1');
    const before = await expectConverged(groupId);
    const repos = await repoSnapshot();
    await engine('bob1').selfUpdate(groupId);
    const [commit] = await store('bob1').listOutbox();
    peers.bob1.live.faults.afterPut = () => {
      throw kill(peers.bob1);
    };
    const flush = engine('bob1').flush();
    await restart(peers.bob1, flush);
    expect(await repos.added()).toEqual({ alice: [], bob: [commit!.rkey] });
    expect((await store('bob1').listOutbox()).map((i) => i.rkey)).toEqual([commit!.rkey]);

    // Others apply the commit before its author re-publishes it.
    await engine('alice1').poll();
    await engine('bob2').poll();
    // The same commit is then published again, and the group moves on once, not twice.
    await settle();
    const after = await expectConverged(groupId);
    expect(BigInt(after.split(':')[0]!)).toBe(BigInt(before.split(':')[0]!) + 1n);
    expect(await repos.added()).toEqual({ alice: [], bob: [commit!.rkey] });

    const sent: Record<string, Name> = {};
    for (const n of ['bob1', 'alice2', 'alice1', 'bob2'] as Name[]) {
      await engine(n).sendText(groupId, `after a lost ack, from ${n}`);
      sent[`after a lost ack, from ${n}`] = n;
    }
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await expectConverged(groupId)).toBe(after);
    const added = await repos.added();
    expect(added.alice).toHaveLength(2);
    expect(added.bob).toHaveLength(3);
  });
});

describe('a join stopped between two steps', () => {
  const outcomesOf = (outcomes: PollReport['outcomes'], groupId: string) =>
    outcomes.filter((o) => 'groupId' in o && o.groupId === groupId).map((o) => (o.kind === 'rejected' ? `rejected:${o.code}` : o.kind));

  it('invitees stopped after fetching the invite (before the join, and between the join and its cursor) join exactly once', async () => {
    const repos = await repoSnapshot();
    const { groupId } = await engine('alice1').createGroup([accounts.bob.did]);
    await engine('alice1').flush();
    const invites = (await repos.added()).alice;
    expect(invites).toHaveLength(4); // the bundle and three invites naming it (§6.6)

    // bob1: stopped after opening the invite and joining in memory, before the group was stored.
    peers.bob1.live.faults.beforeApply = (changes) => {
      if (changes.addWelcomes?.length) throw kill(peers.bob1);
    };
    // bob2: stopped after the group was stored, before the cursor moved past the invite.
    peers.bob2.live.faults.afterApply = (changes) => {
      if (changes.addWelcomes?.length) throw kill(peers.bob2);
    };
    const polls = [engine('bob1').poll([accounts.alice.did]), engine('bob2').poll([accounts.alice.did])];
    await restart(peers.bob1, polls[0]);
    await restart(peers.bob2, polls[1]);
    expect((await engine('bob1').groups()).map((g) => g.groupId)).not.toContain(groupId);
    expect((await engine('bob2').groups()).map((g) => g.groupId)).toContain(groupId);
    const joinedAt = await authenticator('bob2', groupId);

    const outcomes: Record<Name, PollReport['outcomes']> = { alice1: [], alice2: [], bob1: [], bob2: [] };
    for (const n of ['bob1', 'bob2'] as Name[]) outcomes[n] = (await engine(n).poll([accounts.alice.did])).outcomes;
    expect(outcomesOf(outcomes.bob1, groupId)).toEqual(['joined']);
    // The invite is read again and refused: the group stored before the stop is kept as it is.
    expect(outcomes.bob2.filter((o) => o.kind === 'joined')).toEqual([]);
    expect(outcomes.bob2.filter((o) => o.kind === 'rejected').map((o) => o.kind === 'rejected' && o.code)).toEqual([
      'WelcomeReplayed',
    ]);
    expect(await authenticator('bob2', groupId)).toBe(joinedAt);

    const all = await settle(MEMBERS, [accounts.alice.did]);
    expect(all.filter((o) => o.kind === 'joined' && o.groupId === groupId)).toHaveLength(1); // alice2
    await expectConverged(groupId);
    const sent: Record<string, Name> = {};
    for (const n of ['bob1', 'bob2', 'alice1', 'alice2'] as Name[]) {
      await engine(n).sendText(groupId, `after the join, from ${n}`);
      sent[`after the join, from ${n}`] = n;
    }
    await settle();
    await expectExactlyOnce(groupId, sent);
    const added = await repos.added();
    expect(added.alice).toHaveLength(4 + 2);
    expect(added.bob).toHaveLength(2);
  });

  it('a join whose store write fails once (no crash) is done on the next poll', async () => {
    const { groupId } = await engine('alice1').createGroup([accounts.bob.did]);
    await engine('alice1').flush();
    const cursor = await store('bob1').getCursor(accounts.alice.did);
    let failures = 0;
    peers.bob1.live.faults.beforeApply = (changes) => {
      if (changes.addWelcomes?.length && failures++ === 0) throw new DOMException('the disk is full', 'QuotaExceededError');
    };
    try {
      await engine('bob1').poll([accounts.alice.did]).catch(() => undefined);
      expect(failures).toBe(1);
      expect((await engine('bob1').groups()).map((g) => g.groupId)).not.toContain(groupId);
      // Nothing was stored for the invite, so the cursor stopped before it (it may have moved
      // past the invites to the other devices, which bob1 parks): the next poll reads it again.
      expect(((await store('bob1').getCursor(accounts.alice.did))?.rkey ?? '') >= (cursor?.rkey ?? '')).toBe(true);

      await engine('bob1').poll([accounts.alice.did]);
      expect((await engine('bob1').groups()).map((g) => g.groupId), 'bob1 joined on the next poll').toContain(groupId);
      await settle(MEMBERS, [accounts.alice.did]);
      await engine('bob1').sendText(groupId, 'joined after a failed write');
      await settle();
      await expectExactlyOnce(groupId, { 'joined after a failed write': 'bob1' });
    } finally {
      // Whatever happened, the other invitees take their invites now (later tests start clean).
      peers.bob1.live.faults = {};
      await settle(MEMBERS, [accounts.alice.did]);
    }
  });

  it('a replayed invite does not roll the group back', async () => {
    const groupId = await newGroup('alice1');
    const sent: Record<string, Name> = { 'before the replay': 'alice1' };
    await engine('alice1').sendText(groupId, 'before the replay');
    await settle();
    await engine('alice2').selfUpdate(groupId);
    await settle();
    const before = await expectConverged(groupId);
    expect(before.startsWith('2:')).toBe(true);

    // bob2 reads alice's whole repo again: the invite, the message and the commit come back.
    await store('bob2').apply({ putCursors: [{ did: accounts.alice.did, rkey: '2222222222222', updatedAt: Date.now() }] });
    const replay = await engine('bob2').poll();
    // The invite was read again (an invite's rejection names no group) and refused.
    expect(replay.outcomes).toContainEqual({ kind: 'rejected', code: 'WelcomeReplayed', groupId: undefined });
    expect(outcomesOf(replay.outcomes, groupId)).not.toContain('joined');
    expect(replay.outcomes.filter((o) => o.kind === 'joined' || o.kind === 'message' || o.kind === 'commit')).toEqual([]);
    expect(await authenticator('bob2', groupId)).toBe(before);

    for (const n of ['alice1', 'bob1', 'bob2'] as Name[]) {
      await engine(n).sendText(groupId, `after the replay, from ${n}`);
      sent[`after the replay, from ${n}`] = n;
    }
    await settle();
    await expectExactlyOnce(groupId, sent);
    expect(await expectConverged(groupId)).toBe(before);
  });
});

describe('stealth invites', () => {
  it('a Welcome can be opened only by its invitee', async () => {
    const repos = await repoSnapshot();
    const { groupId } = await engine('alice1').createGroup([accounts.bob.did]);
    await engine('alice1').flush();
    const rkeys = (await repos.added()).alice;
    // Three devices added by one commit: one bundle holding the Welcome and three references (§6.6).
    expect(rkeys).toHaveLength(4);
    const records = (await peers.alice1.device.publicRepos.listRecords(accounts.alice.did, EVENT_COLLECTION_NSID, { max: 1000 })).filter(
      (r) => rkeys.includes(r.rkey),
    );
    const candidates: Array<{ name: string; device: TestDevice }> = [
      ...MEMBERS.map((n) => ({ name: n as string, device: peers[n].device })),
      { name: 'carol1 (not a member)', device: carol },
    ];
    const openedBy: string[] = [];
    const bundles: string[] = [];
    for (const record of records) {
      const event = parseRecord(EVENT, record.value, record.uri);
      const openers: string[] = [];
      for (const c of candidates) {
        const opened = await tryOpenInvite(c.device.device.invite.privateKey, event.tag, event.ciphertext!);
        if (!opened) continue;
        openers.push(c.name);
        // What it opens is a Welcome for one of that very device's KeyPackages.
        const refs = welcomeRecipients(await welcomeIn(opened, accounts.alice.did, c.device.publicRepos)).map(toHex);
        const own = await Promise.all(refs.map((ref) => c.device.keyPackages.get(ref)));
        expect(own.some(Boolean), `${c.name} holds a KeyPackage the Welcome names`).toBe(true);
      }
      if (openers.length === 0) {
        bundles.push(record.rkey); // the bundle: sealed under a key only the invites carry
        continue;
      }
      expect(openers, `openers of invite ${record.rkey}`).toHaveLength(1);
      openedBy.push(openers[0]!);
    }
    expect(bundles).toHaveLength(1);
    expect(openedBy.sort()).toEqual(['alice2', 'bob1', 'bob2']);
    await settle(MEMBERS, [accounts.alice.did]);
    for (const n of MEMBERS) expect((await engine(n).groups()).map((g) => g.groupId), n).toContain(groupId);
  });
});

// Found while writing the tests above: not a stop, but a join that is lost all the same.
describe('two invitations before the invitee reads either', () => {
  it('the invitee joins both groups', async () => {
    const repos = await repoSnapshot();
    // Two people invite the same devices (alice2, bob2) while those are not reading.
    const { groupId: first } = await engine('alice1').createGroup([accounts.bob.did]);
    const { groupId: second } = await engine('bob1').createGroup([accounts.alice.did]);
    await engine('alice1').flush();
    await engine('bob1').flush();
    const added = await repos.added();
    // The KeyPackages each Welcome to alice2 names (what alice2's invite key opens).
    const named: string[][] = [];
    for (const [did, rkeys] of [
      [accounts.alice.did, added.alice],
      [accounts.bob.did, added.bob],
    ] as const) {
      for (const record of await peers.alice2.device.publicRepos.listRecords(did, EVENT_COLLECTION_NSID, { max: 1000 })) {
        if (!rkeys.includes(record.rkey)) continue;
        const event = parseRecord(EVENT, record.value, record.uri);
        const opened = await tryOpenInvite(peers.alice2.device.device.invite.privateKey, event.tag, event.ciphertext!);
        if (opened) named.push(welcomeRecipients(await welcomeIn(opened, did, peers.alice2.device.publicRepos)).map(toHex));
      }
    }
    expect(named).toHaveLength(2);
    const reused = named[0]!.filter((ref) => named[1]!.includes(ref));

    const outcomes = await settle(MEMBERS, [accounts.alice.did, accounts.bob.did]);
    const refused = outcomes.filter((o) => o.kind === 'rejected');
    expect(
      { refused, reusedKeyPackages: reused.length },
      'invites refused (both Welcomes to alice2 name the same one-time KeyPackage when reusedKeyPackages > 0)',
    ).toEqual({ refused: [], reusedKeyPackages: reused.length });
    for (const n of MEMBERS) {
      const groups = (await engine(n).groups()).map((g) => g.groupId);
      expect(groups, `${n} is in the first group`).toContain(first);
      expect(groups, `${n} is in the second group`).toContain(second);
    }
  });
});
