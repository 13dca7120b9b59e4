import { DefaultSerializer } from 'node:v8';
import type { AtmDb } from '../../src/store/db';
import type { Sample } from '../lib/measure';
import type { Row } from '../lib/table';
import type { World } from './world';
import { eventRecordBytes } from './latency';

/**
 * V8's serializer, with a stored CryptoKey (non-extractable: the envelope keys) counted as 48
 * bytes, about what Chromium writes for an AES-256 key (tag, algorithm, usages, raw key).
 */
class SizeSerializer extends DefaultSerializer {
  // Node's hook for host objects (not in @types/node).
  _writeHostObject(object: object): void {
    if (object instanceof CryptoKey) {
      this.writeRawBytes(Buffer.alloc(48));
      return;
    }
    (DefaultSerializer.prototype as unknown as { _writeHostObject(this: DefaultSerializer, o: object): void })._writeHostObject.call(this, object);
  }
}

function serialize(value: unknown): Buffer {
  const s = new SizeSerializer();
  s.writeHeader();
  s.writeValue(value);
  return s.releaseBuffer();
}

/**
 * What a device's IndexedDB holds, in bytes: every record's value and key as V8's structured
 * clone serializer writes them (the format Chromium's IndexedDB stores values in, before its
 * on-disk compression), summed over all object stores. The database is fake-indexeddb (Node);
 * the records are the engine's own.
 */
export async function idbBytes(db: AtmDb): Promise<{ total: number; byStore: Record<string, number> }> {
  const byStore: Record<string, number> = {};
  let total = 0;
  for (const name of [...db.objectStoreNames]) {
    const tx = db.transaction(name as never, 'readonly');
    const [values, keys] = await Promise.all([tx.store.getAll(), tx.store.getAllKeys()]);
    await tx.done;
    let bytes = 0;
    for (let i = 0; i < values.length; i++) bytes += serialize(values[i]).length + serialize(keys[i]).length;
    byStore[name] = bytes;
    total += bytes;
  }
  return { total, byStore };
}

const one = (v: number): Sample => ({ median: v, min: v, max: v, runs: 1 });

function grew(before: Record<string, number>, after: Record<string, number>, per: number): string {
  return Object.keys(after)
    .map((k) => [k, ((after[k] ?? 0) - (before[k] ?? 0)) / per] as const)
    .filter(([, d]) => Math.abs(d) >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([k, d]) => `${k} ${d >= 1024 ? `${(d / 1024).toFixed(1)} KB` : `${d.toFixed(0)} B`}`)
    .join(', ');
}

/**
 * IndexedDB bytes per group (a new two-member group: the creator, and the member who joins from
 * the invite) and per message (sent and flushed by alice, received by bob), as deltas of the
 * whole database over `groups` groups and `messages` messages.
 */
export async function storageRows(world: World, opts: { groups: number; messages: number }): Promise<Row[]> {
  const { alice, bob } = world;
  const rows: Row[] = [];
  let a0 = await idbBytes(alice.db);
  let b0 = await idbBytes(bob.db);
  let last = world.groupId;
  for (let i = 0; i < opts.groups; i++) {
    last = (await alice.engine.createGroup([bob.account.did])).groupId;
    await alice.engine.flush();
  }
  await bob.engine.poll([alice.account.did]);
  if (!(await bob.engine.groups()).some((g) => g.groupId === last)) throw new Error('bob did not join the new groups');
  let a1 = await idbBytes(alice.db);
  let b1 = await idbBytes(bob.db);
  const stateOf = async (engine: typeof alice.engine) => (await engine.groups()).find((g) => g.groupId === last)!.state.length / 1024;
  rows.push({
    section: 'storage (Node IndexedDB), N=2',
    what: `bytes per group, creator (structured-clone sizes, ${opts.groups} groups)`,
    ours: one((a1.total - a0.total) / opts.groups / 1024),
    unit: 'KB',
    reference: { name: 'its MLS state alone', value: one(await stateOf(alice.engine)) },
    note: grew(a0.byStore, a1.byStore, opts.groups),
  });
  rows.push({
    section: 'storage (Node IndexedDB), N=2',
    what: 'bytes per group, member who joined from the invite',
    ours: one((b1.total - b0.total) / opts.groups / 1024),
    unit: 'KB',
    reference: { name: 'its MLS state alone', value: one(await stateOf(bob.engine)) },
    note: grew(b0.byStore, b1.byStore, opts.groups),
  });
  [a0, b0] = [a1, b1];
  const text = (i: number) => `storage probe ${String(i).padStart(3, '0')}: a short message of about the size people send`;
  const textBytes = one(new TextEncoder().encode(text(0)).length);
  for (let i = 0; i < opts.messages; i++) await alice.engine.sendText(world.groupId, text(i));
  await alice.engine.flush();
  await bob.engine.poll([alice.account.did]);
  [a1, b1] = [await idbBytes(alice.db), await idbBytes(bob.db)];
  rows.push({
    section: 'storage (Node IndexedDB), N=2',
    what: `bytes per short text message, sender (${opts.messages} messages, flushed)`,
    ours: one((a1.total - a0.total) / opts.messages),
    unit: 'B',
    reference: { name: 'the text, UTF-8', value: textBytes },
    note: grew(a0.byStore, a1.byStore, opts.messages),
  });
  rows.push({
    section: 'storage (Node IndexedDB), N=2',
    what: 'bytes per short text message, receiver',
    ours: one((b1.total - b0.total) / opts.messages),
    unit: 'B',
    reference: { name: 'the text, UTF-8', value: textBytes },
    note: grew(b0.byStore, b1.byStore, opts.messages),
  });
  // alice's latest event is now one of these texts.
  rows.push({
    section: 'storage (PDS)',
    what: 'bytes per short text message (event record JSON)',
    ours: one(await eventRecordBytes(world)),
    unit: 'B',
    reference: { name: 'the text, UTF-8', value: textBytes },
    note: 'smallest padding bucket',
  });
  return rows;
}
