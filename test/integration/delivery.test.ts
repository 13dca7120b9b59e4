import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { newTid } from '../../src/engine/tid';
import { decodeGroupState, epochAuthenticator, epoch } from '../../src/mls';
import { BUCKETS } from '../../src/protocol/padding';
import { EVENT_COLLECTION_NSID } from '../../src/protocol/records';
import { tryOpenInvite } from '../../src/protocol/invite';
import { toHex } from '../../src/bytes';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';

// Delivery against the real PLC + PDS: 3 users with 2 devices each. Every event
// goes through the outbox into the author's repo and is read back by the others from there.

const net = attachNetwork(viInject('network'));

type Name = 'alice1' | 'alice2' | 'bob1' | 'bob2' | 'carol1' | 'carol2';
const NAMES: Name[] = ['alice1', 'alice2', 'bob1', 'bob2', 'carol1', 'carol2'];

interface Peer {
  device: TestDevice;
  engine: DeliveryEngine;
  dbName: string;
}

let accounts: Record<'alice' | 'bob' | 'carol', Account>;
let peers: Record<Name, Peer>;

const text = (p: Peer, groupId: string) => p.engine.messages(groupId).then((ms) => ms.map((m) => m.text));

/** Everyone publishes and reads until nothing moves any more (bounded). */
async function settle(names: readonly Name[] = NAMES, contacts: string[] = [], shuffle = false) {
  for (let round = 0; round < 12; round++) {
    let moved = 0;
    const order = shuffle ? [...names].sort(() => Math.random() - 0.5) : names;
    for (const n of order) moved += (await peers[n].engine.flush()).published.length;
    for (const n of order) {
      const report = await peers[n].engine.poll(contacts);
      moved += report.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
    }
    if (moved === 0) return round;
  }
  throw new Error('did not settle in 12 rounds');
}

beforeAll(async () => {
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(n))));
  accounts = { alice: alice!, bob: bob!, carol: carol! };
  const agents = {
    alice: await resumeCreationSession(net.pdsUrl, alice!),
    bob: await resumeCreationSession(net.pdsUrl, bob!),
    carol: await resumeCreationSession(net.pdsUrl, carol!),
  };
  const entries = await Promise.all(
    NAMES.map(async (name) => {
      const owner = name.slice(0, -1) as 'alice' | 'bob' | 'carol';
      const device = await startDevice(name, agents[owner], accounts[owner].did, net.plcUrl);
      const dbName = `delivery-${name}-${newTid()}`;
      const { engine } = await deliveryEngineFor(device, dbName);
      return [name, { device, engine, dbName }] as const;
    }),
  );
  peers = Object.fromEntries(entries) as Record<Name, Peer>;
});

describe('a direct conversation (alice and bob, two devices each)', () => {
  let groupId: string;
  const members: Name[] = ['alice1', 'alice2', 'bob1', 'bob2'];

  beforeAll(async () => {
    groupId = (await peers.alice1.engine.createGroup([accounts.bob.did])).groupId;
    await settle(members, [accounts.alice.did]);
  });

  it('every device joins from its stealth invite', async () => {
    for (const n of members) {
      expect((await peers[n].engine.groups()).map((g) => g.groupId)).toContain(groupId);
    }
    // The creator knows it made the group; the others that they joined it (the panel then says
    // that what came before cannot be read on that device).
    for (const n of members) {
      const group = (await peers[n].engine.groups()).find((g) => g.groupId === groupId);
      expect(group?.origin, n).toBe(n === 'alice1' ? 'created' : 'joined');
    }
  });

  it('messages flow both ways and to the sender\'s other device, each exactly once', async () => {
    await peers.alice1.engine.sendText(groupId, 'hello bob');
    await settle(members);
    await peers.bob2.engine.sendText(groupId, 'hi alice');
    await settle(members);
    for (const n of members) {
      expect(await text(peers[n], groupId)).toEqual(['hello bob', 'hi alice']);
    }
    const fromAlice = (await peers.bob1.engine.messages(groupId))[0]!;
    expect(fromAlice.senderUri).toBe(peers.alice1.device.device.uri);
    expect((await peers.alice1.engine.messages(groupId))[0]!.status).toBe('sent');
  });

  it("is added by its owner's maintenance, joins from its invite, and reads what follows", async () => {
    const agent = await resumeCreationSession(net.pdsUrl, accounts.bob);
    const device = await startDevice('bob3', agent, accounts.bob.did, net.plcUrl);
    const { engine } = await deliveryEngineFor(device, `delivery-bob3-${newTid()}`);
    // Once the epoch they joined is final for them too (§6.7), a member may commit the add;
    // bob's own devices take the first turns (docs/protocol.md §6.9).
    clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
    for (const p of [peers.bob1, peers.bob2]) await p.engine.poll(); // the read finality needs
    await peers.bob1.engine.maintain();
    await peers.bob2.engine.maintain();
    await settle(members);
    await engine.poll([accounts.alice.did, accounts.bob.did]);
    expect((await engine.groups()).map((g) => g.groupId)).toContain(groupId);
    await peers.alice1.engine.sendText(groupId, 'for the new device too');
    await peers.alice1.engine.flush();
    await engine.poll();
    expect((await engine.messages(groupId)).map((m) => m.text)).toEqual(['for the new device too']);
    await settle(members); // the others read the add and the message too
  });
});

describe('an event published late (sealed while offline)', () => {
  it('is still read after newer events of the same repo were read', async () => {
    const groupId = (await peers.alice1.engine.groups())[0]!.groupId;
    const members: Name[] = ['alice1', 'alice2', 'bob1', 'bob2'];
    // alice2 seals first but publishes last: its record key is older than alice1's.
    await peers.alice2.engine.sendText(groupId, 'sealed offline');
    await peers.alice1.engine.sendText(groupId, 'published first');
    await peers.alice1.engine.flush();
    for (const n of ['bob1', 'bob2'] as const) await peers[n].engine.poll();
    expect(await text(peers.bob1, groupId)).toContain('published first');
    expect(await text(peers.bob1, groupId)).not.toContain('sealed offline');
    await peers.alice2.engine.flush();
    await settle(members);
    for (const n of members) {
      const texts = await text(peers[n], groupId);
      expect(texts.filter((t) => t === 'sealed offline'), n).toHaveLength(1);
      expect(texts.filter((t) => t === 'published first'), n).toHaveLength(1);
    }
  });
});

describe('raw records in the repos', () => {
  it('show no group id, no repeated tag, and only bucket sizes', async () => {
    const groups = await peers.alice1.engine.groups();
    const groupIds = groups.map((g) => g.groupId);
    const tags = new Set<string>();
    let count = 0;
    for (const account of Object.values(accounts)) {
      // The raw JSON, exactly as any observer of the repo gets it.
      const url = new URL('/xrpc/com.atproto.repo.listRecords', net.pdsUrl);
      url.search = new URLSearchParams({ repo: account.did, collection: EVENT_COLLECTION_NSID, limit: '100' }).toString();
      const data = (await (await fetch(url)).json()) as { records: Array<{ value: unknown }> };
      for (const r of data.records) {
        const value = r.value as { tag: { $bytes: string }; ciphertext?: { $bytes: string } };
        const tag = Buffer.from(value.tag.$bytes, 'base64');
        const ciphertext = Buffer.from(value.ciphertext!.$bytes, 'base64');
        expect(Object.keys(value).sort()).toEqual(['$type', 'ciphertext', 'tag']);
        expect(BUCKETS).toContain(ciphertext.length);
        expect(tags.has(tag.toString('hex'))).toBe(false);
        tags.add(tag.toString('hex'));
        for (const id of groupIds) expect(ciphertext.toString('hex')).not.toContain(id);
        count++;
      }
    }
    expect(count).toBeGreaterThan(4);
  });
});

describe('a group conversation (3 users, 6 devices)', () => {
  let groupId: string;

  beforeAll(async () => {
    groupId = (await peers.carol1.engine.createGroup([accounts.alice.did, accounts.bob.did])).groupId;
    await settle(NAMES, [accounts.carol.did]);
  });

  it('every device joins and every message reaches every other device once', async () => {
    for (const n of NAMES) expect((await peers[n].engine.groups()).map((g) => g.groupId)).toContain(groupId);
    for (const n of NAMES) await peers[n].engine.sendText(groupId, `from ${n}`);
    await settle(NAMES, [], true);
    const expected = NAMES.map((n) => `from ${n}`).sort();
    for (const n of NAMES) {
      const texts = await text(peers[n], groupId);
      expect(texts.slice().sort()).toEqual(expected);
      expect(new Set(texts).size).toBe(texts.length);
    }
  });

  async function authenticators(names: readonly Name[]) {
    const out = new Map<string, string[]>();
    for (const n of names) {
      const g = (await peers[n].engine.groups()).find((x) => x.groupId === groupId)!;
      const state = decodeGroupState(peers[n].device.mls, g.state);
      const key = `${epoch(state)}:${toHex(epochAuthenticator(state))}`;
      out.set(key, [...(out.get(key) ?? []), n]);
    }
    return out;
  }

  /** Lets every epoch become final, runs the commits that waited for it, until none wait. */
  async function finalizeAll() {
    for (let round = 0; round < 6; round++) {
      clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
      for (const n of NAMES) await peers[n].engine.poll(); // the read finality needs (§6.7)
      for (const n of NAMES) await peers[n].engine.maintain();
      await settle(NAMES, [], true);
      const waiting = (await Promise.all(NAMES.map((n) => peers[n].engine.groups()))).flat().filter((g) => g.deferred);
      if (waiting.length === 0) {
        clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
        for (const n of NAMES) await peers[n].engine.poll();
        for (const n of NAMES) await peers[n].engine.maintain();
        return;
      }
    }
    throw new Error('deferred commits did not settle');
  }

  for (const committers of [2, 5]) {
    it(`converges when ${committers} members commit at once, under random delivery order`, async () => {
      await finalizeAll();
      const before = await authenticators(NAMES);
      expect(before.size).toBe(1);
      const who = [...NAMES].sort(() => Math.random() - 0.5).slice(0, committers);
      // Everyone commits on the same epoch before hearing of the others, then talks.
      for (const n of who) await peers[n].engine.selfUpdate(groupId);
      for (const n of who) await peers[n].engine.sendText(groupId, `after commit ${committers} by ${n}`);
      await settle(NAMES, [], true);

      const after = await authenticators(NAMES);
      expect([...after.values()]).toEqual([expect.arrayContaining(NAMES)]);
      const [state] = [...after.keys()];
      expect(state).not.toBe([...before.keys()][0]);
      // No message lost or shown twice, on any device.
      for (const n of NAMES) {
        const texts = await text(peers[n], groupId);
        expect(new Set(texts).size, n).toBe(texts.length);
        for (const c of who) expect(texts, n).toContain(`after commit ${committers} by ${c}`);
      }
      // The losers redo their self-updates once the epoch is final; the group converges again.
      await finalizeAll();
      const redone = await authenticators(NAMES);
      expect([...redone.values()]).toEqual([expect.arrayContaining(NAMES)]);
    });
  }
});

describe('two members turn encryption on for one conversation at once', () => {
  const convoId = '3lconvoracezz';
  const members: Name[] = ['alice1', 'alice2', 'bob1', 'bob2'];

  it('every device settles on the same group and sees every message once', async () => {
    // Neither has heard of the other's group when creating its own.
    const a = await peers.alice1.engine.createGroup([accounts.bob.did], convoId);
    const b = await peers.bob1.engine.createGroup([accounts.alice.did], convoId);
    expect(a.groupId).not.toBe(b.groupId);
    await peers.alice1.engine.sendToConversation(convoId, 'alice, early');
    await peers.bob1.engine.sendToConversation(convoId, 'bob, early');
    await settle(members, [accounts.alice.did, accounts.bob.did], true);

    const chosen = new Set<string>();
    for (const n of members) chosen.add((await peers[n].engine.conversationGroup(convoId))!.groupId);
    expect(chosen.size).toBe(1);
    expect([a.groupId, b.groupId]).toContain([...chosen][0]);

    await peers.bob2.engine.sendToConversation(convoId, 'bob, after');
    await settle(members);
    for (const n of members) {
      const texts = (await peers[n].engine.conversationMessages(convoId)).map((m) => m.text);
      expect(texts.slice().sort(), n).toEqual(['alice, early', 'bob, after', 'bob, early']);
    }
  });
});

