import { afterAll, beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';
import { DEFAULT_POOL_POLICY } from '../../src/engine/key-package-pool';
import { newTid } from '../../src/engine/tid';
import type { AtmDb } from '../../src/store/db';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';

// Load: a burst of messages into a big group, against the real PLC + PDS. Every device
// has its own IndexedDB and reads every event from the authors' repos. Then the clock passes the
// retention period and we measure what each device still stores.
//
// Sizes: the full size (50 members x 3 devices, 1,000 messages) runs under
// ATM_ADVERSARIAL=1 (npm run test:adversarial); `npm test` runs a reduced size that keeps the
// same shape. ATM_LOAD_MEMBERS / _DEVICES / _MESSAGES / _SENDERS override either.

const ADVERSARIAL = process.env.ATM_ADVERSARIAL === '1';
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const MEMBERS = env('ATM_LOAD_MEMBERS', ADVERSARIAL ? 50 : 4);
const DEVICES_PER_MEMBER = env('ATM_LOAD_DEVICES', 3);
const MESSAGES = env('ATM_LOAD_MESSAGES', ADVERSARIAL ? 1000 : 120);
const SENDERS = Math.min(env('ATM_LOAD_SENDERS', 5), MEMBERS * DEVICES_PER_MEMBER);

const net = attachNetwork(viInject('network'));

interface Peer {
  name: string;
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
  db: AtmDb;
}

let peers: Peer[];
let groupId: string;
const timings: Array<[string, number]> = [];
const sizes: Array<{ when: string; stores: Record<string, { rows: number; bytes: number }> }> = [];

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    timings.push([label, Math.round(performance.now() - start)]);
    // Progress as it goes: the full size runs for a long time.
    if (ADVERSARIAL || process.env.ATM_LOAD_PROGRESS) console.log(`load: ${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
}

/**
 * Bytes of a stored value as IndexedDB would hold them, estimated: binary exact, strings as
 * UTF-8, numbers 8, booleans 1, a CryptoKey 32 (a handle to a 32-byte key), plus property names.
 * fake-indexeddb keeps structured clones in memory and has no size API, so we sum the rows.
 */
function estimateBytes(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number' || typeof value === 'bigint') return 8;
  if (typeof value === 'boolean') return 1;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (typeof CryptoKey !== 'undefined' && value instanceof CryptoKey) return 32;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + estimateBytes(v), 0);
  if (typeof value === 'object') {
    let sum = 0;
    for (const [k, v] of Object.entries(value)) sum += k.length + estimateBytes(v);
    return sum;
  }
  return 8;
}

// The delivery database of each device. (The harness keeps the device key and key-package
// secrets in a database of their own, a fixed few KiB per device, not measured here.)
const STORES = ['groups', 'messages', 'outbox', 'cursors', 'pending', 'welcomes', 'ownEvents'] as const;

/** Rows and bytes per store, summed over all devices. */
async function measure(when: string) {
  const stores: Record<string, { rows: number; bytes: number }> = {};
  for (const store of STORES) stores[store] = { rows: 0, bytes: 0 };
  for (const p of peers) {
    for (const store of STORES) {
      const rows = await p.db.getAll(store);
      stores[store]!.rows += rows.length;
      stores[store]!.bytes += rows.reduce((sum: number, r) => sum + estimateBytes(r), 0);
    }
  }
  sizes.push({ when, stores });
  return stores;
}

const total = (stores: Record<string, { bytes: number }>) => Object.values(stores).reduce((a, s) => a + s.bytes, 0);

/** Everyone publishes, then reads, until nothing moves (bounded). */
async function settle(contacts: string[] = [], maxRounds = 6) {
  for (let round = 0; round < maxRounds; round++) {
    let moved = 0;
    let waiting = 0;
    for (const p of peers) {
      const r = await p.engine.flush();
      moved += r.published.length;
      waiting += r.deferred.length;
    }
    for (const p of peers) {
      const r = await p.engine.poll(contacts);
      moved += r.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
      waiting += r.unreachable.length;
    }
    if (moved === 0 && waiting === 0) return round;
  }
  throw new Error(`did not settle in ${maxRounds} rounds`);
}

beforeAll(async () => {
  const accounts = await timed(`create ${MEMBERS} accounts`, async () => {
    const out: Account[] = [];
    // A few at a time: the PDS hashes each password (scrypt), and the machine has 2 cores.
    for (let i = 0; i < MEMBERS; i += 5) {
      out.push(...(await Promise.all(Array.from({ length: Math.min(5, MEMBERS - i) }, (_, j) => net.createAccount(uniqueName(`ld${i + j}`))))));
    }
    return out;
  });
  peers = await timed(`start ${MEMBERS * DEVICES_PER_MEMBER} devices`, async () => {
    const out: Peer[] = [];
    for (const [m, account] of accounts.entries()) {
      const agent = await resumeCreationSession(net.pdsUrl, account);
      for (let d = 0; d < DEVICES_PER_MEMBER; d++) {
        const name = `m${m}d${d}`;
        // A small key-package pool: each device is added once, by the group's creator.
        const device = await startDevice(name, agent, account.did, net.plcUrl, { ...DEFAULT_POOL_POLICY, oneTime: 1 });
        const { engine, db } = await deliveryEngineFor(device, `load-${name}-${newTid()}`);
        out.push({ name, account, device, engine, db });
      }
    }
    return out;
  });
  const creator = peers[0]!;
  groupId = await timed('create the group (one commit, every device invited)', async () => {
    const others = [...new Set(peers.map((p) => p.account.did))].filter((did) => did !== creator.account.did);
    return (await creator.engine.createGroup(others)).groupId;
  });
  await timed('every device joins (publish invites, read and open them)', () => settle([creator.account.did]));
  for (const p of peers) expect((await p.engine.groups()).map((g) => g.groupId), p.name).toContain(groupId);
}, 3_600_000);

afterAll(() => {
  const lines = [
    `load: ${MEMBERS} members x ${DEVICES_PER_MEMBER} devices = ${MEMBERS * DEVICES_PER_MEMBER} devices, ${MESSAGES} messages from ${SENDERS} senders`,
    ...timings.map(([label, ms]) => `  ${label}: ${(ms / 1000).toFixed(1)} s`),
  ];
  for (const { when, stores } of sizes) {
    lines.push(`  IndexedDB, all devices, ${when}: ${(total(stores) / 1024).toFixed(0)} KiB`);
    for (const [name, s] of Object.entries(stores)) lines.push(`    ${name.padEnd(12)} ${String(s.rows).padStart(8)} rows ${(s.bytes / 1024).toFixed(1).padStart(10)} KiB`);
  }
  console.log(lines.join('\n'));
});

describe(`a burst of ${MESSAGES} messages into a group of ${MEMBERS} members x ${DEVICES_PER_MEMBER} devices`, () => {
  const texts: string[] = [];

  it('reaches every device exactly once', async () => {
    // Senders on different members, interleaved, all sealed before anything is published.
    const senders = Array.from({ length: SENDERS }, (_, i) => peers[(i * DEVICES_PER_MEMBER) % peers.length]!);
    await timed(`seal ${MESSAGES} messages`, async () => {
      for (let i = 0; i < MESSAGES; i++) {
        const text = `burst ${i}`;
        texts.push(text);
        await senders[i % senders.length]!.engine.sendText(groupId, text);
      }
    });
    await timed(`publish ${MESSAGES} events`, async () => {
      for (const s of senders) {
        const report = await s.engine.flush();
        expect(report.deferred).toEqual([]);
      }
    });
    await timed(`every device reads the burst`, () => settle());
    let lost = 0;
    let duplicated = 0;
    for (const p of peers) {
      const shown = (await p.engine.messages(groupId)).map((m) => m.text);
      const counts = new Map<string, number>();
      for (const t of shown) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const t of texts) {
        const c = counts.get(t) ?? 0;
        if (c === 0) lost++;
        if (c > 1) duplicated += c - 1;
      }
      expect(shown.length, p.name).toBe(texts.length);
    }
    timings.push([`messages delivered: ${peers.length * MESSAGES - lost} of ${peers.length * MESSAGES}, lost ${lost}, duplicated ${duplicated}`, 0]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
  }, 3_600_000);

  it('leaves bounded state after the retention period', async () => {
    const before = await measure('after the burst');
    const burstEnd = clock.now();
    // The burst's records (and the invites before it), as their authors remember them.
    const published = new Map<string, Set<string>>();
    for (const p of peers) {
      const rkeys = published.get(p.account.did) ?? new Set<string>();
      for (const own of await p.db.getAll('ownEvents')) rkeys.add(own.rkey);
      published.set(p.account.did, rkeys);
    }
    expect([...published.values()].reduce((n, s) => n + s.size, 0)).toBeGreaterThanOrEqual(MESSAGES);
    // Past retention (and the look-back and pending windows): maintenance deletes our events.
    // (Maintenance also makes every device's self-update now due after a month: more commits.)
    clock.advance(DEFAULT_DELIVERY_POLICY.retentionMs + DEFAULT_DELIVERY_POLICY.lookbackMs + 60_000);
    await timed('maintenance past retention (deletes own events)', async () => {
      for (const p of peers) await p.engine.maintain();
    });
    // One more event moves every reader's cursor (the look-back list is trimmed as events arrive).
    await peers[1]!.engine.sendText(groupId, 'after retention');
    texts.push('after retention');
    await settle();
    const after = await measure('after retention');
    // The burst's events are gone from the bookkeeping (and, below, from the repos); what is
    // left is what was published after the clock moved (self-updates, the last message).
    for (const p of peers) {
      for (const own of await p.db.getAll('ownEvents')) expect(own.publishedAt, p.name).toBeGreaterThan(burstEnd);
    }
    expect(after.outbox!.rows).toBe(0);
    // Parked events (e.g. invites for other devices) are bounded and expire.
    expect(after.pending!.rows).toBeLessThanOrEqual(peers.length * DEFAULT_DELIVERY_POLICY.pendingMax);
    expect(after.pending!.rows).toBeLessThan(before.pending!.rows + peers.length);
    // What is left is message history (kept by design) plus a bounded per-device remainder: the
    // per-event bookkeeping (own events, parked events, the outbox) shrinks back, and a group
    // record holds its current epoch, at most `retainedEpochs` past ones and one parent state
    // (§6.7; after a month every device's self-update is due at once, so each keeps a parent
    // until that epoch is final): a size set by the group, not by how many messages went by.
    const bookkeeping = (m: typeof before) => m.ownEvents!.bytes + m.pending!.bytes + m.outbox!.bytes;
    expect(bookkeeping(after)).toBeLessThan(bookkeeping(before));
    expect(after.groups!.bytes).toBeLessThanOrEqual((DEFAULT_DELIVERY_POLICY.retainedEpochs + 2) * before.groups!.bytes);
    // And the repos no longer hold any of them.
    const reader = peers[0]!.device.publicRepos;
    for (const [did, rkeys] of published) {
      const left = (await reader.listRecords(did, 'org.atmessaging.event', { max: 5000 })).filter((r) => rkeys.has(r.rkey));
      expect(left.map((r) => r.rkey), `${did}'s repo after retention`).toEqual([]);
    }
  }, 3_600_000);
});
