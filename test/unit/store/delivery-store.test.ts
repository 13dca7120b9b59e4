import { openDB } from 'idb';
import { describe, expect, it, vi } from 'vitest';
import type {
  ChangeSet,
  CursorRecord,
  EpochRecord,
  GroupRecord,
  MessageRecord,
  OutboxItem,
  PendingEvent,
} from '../../../src/engine/delivery-state';
import type { KeyPackageSecret, LocalDevice } from '../../../src/engine/ports';
import { isAtmError } from '../../../src/errors';
import { DB_VERSION, openAtmDb, type AtmDb } from '../../../src/store/db';
import { idbDeliveryStore, wipeDeviceState } from '../../../src/store/delivery-store';
import { idbDeviceStore, idbKeyPackageStore } from '../../../src/store/device-store';

let n = 0;
const freshDbName = () => `atm-delivery-test-${Date.now()}-${n++}`;
const subtle = globalThis.crypto.subtle;

async function epoch(number: string): Promise<EpochRecord> {
  return {
    epoch: number,
    envelopeKey: await subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
    tagKey: await subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
    tags: { leaves: [{ leaf: 1, highest: 3, first: 0, tags: new Uint8Array(68 * 16).fill(7), consumed: [0, 1, 2, 3] }] },
    nextCounter: 7,
  };
}

async function group(groupId: string, extra: Partial<GroupRecord> = {}): Promise<GroupRecord> {
  const base: GroupRecord = {
    groupId,
    convoId: `convo-${groupId}`,
    state: new Uint8Array([1, 2, 3, 250]),
    current: await epoch('2'),
    retained: [await epoch('1'), await epoch('0')],
    parent: {
      state: new Uint8Array([9, 8]),
      winnerRank: 'ab'.repeat(32),
      appliedAt: 10,
      sentSince: ['m1'],
      intent: { kind: 'update' },
    },
    memberDids: ['did:plc:alice', 'did:plc:bob'],
    active: true,
    createdAt: 1,
    updatedAt: 2,
  };
  return Object.assign(base, extra);
}

function message(groupId: string, id: string, sentAt: number): MessageRecord {
  return {
    groupId,
    id,
    contentId: id,
    senderUri: 'at://did:plc:alice/org.atmessaging.device/3lbaaaaaaaaaa',
    text: `hello ${id}`,
    sentAt,
    receivedAt: sentAt + 1,
    own: false,
    status: 'sent',
  };
}

function outbox(rkey: string, createdAt: number, groupId = 'g1'): OutboxItem {
  return {
    rkey,
    collection: 'org.atmessaging.event',
    record: { $type: 'org.atmessaging.event', tag: { $bytes: 'AAAA' }, nested: [1, null, 'x'] },
    blob: new Uint8Array([0, 255, 128]),
    createdAt,
    attempts: 0,
    nextAttemptAt: createdAt,
    message: { groupId, id: `m-${rkey}` },
  };
}

const cursor = (did: string, rkey: string): CursorRecord => ({ did, rkey, updatedAt: 5 });

function pendingEvent(rkey: string): PendingEvent {
  return {
    uri: `at://did:plc:bob/org.atmessaging.event/${rkey}`,
    did: 'did:plc:bob',
    rkey,
    tag: new Uint8Array(16).fill(7),
    ciphertext: new Uint8Array([1, 2, 3, 4, 5]),
    firstSeenAt: 6,
  };
}

/** The read-back key is a usable, non-extractable key that computes what the original does. */
async function expectSameKeys(read: EpochRecord, original: EpochRecord): Promise<void> {
  for (const key of [read.envelopeKey, read.tagKey]) {
    expect(key).toBeInstanceOf(CryptoKey);
    expect(key.extractable).toBe(false);
  }
  expect(read.envelopeKey.algorithm).toEqual({ name: 'AES-GCM', length: 256 });
  expect(read.envelopeKey.usages.sort()).toEqual(['decrypt', 'encrypt']);
  expect(read.tagKey.algorithm).toMatchObject({ name: 'HMAC', hash: { name: 'SHA-256' } });
  expect(read.tagKey.usages).toEqual(['sign']);

  const iv = new Uint8Array(12).fill(1);
  const data = new TextEncoder().encode('round trip');
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, read.envelopeKey, data));
  expect(sealed).toEqual(new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, original.envelopeKey, data)));
  expect(new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv }, original.envelopeKey, sealed))).toEqual(data);
  expect(new Uint8Array(await subtle.sign('HMAC', read.tagKey, data))).toEqual(
    new Uint8Array(await subtle.sign('HMAC', original.tagKey, data)),
  );
  // Keys of another epoch do not compute the same: the comparison above means something.
  const other = await epoch('x');
  expect(new Uint8Array(await subtle.sign('HMAC', other.tagKey, data))).not.toEqual(
    new Uint8Array(await subtle.sign('HMAC', original.tagKey, data)),
  );
}

/** Everything but the keys, which compare by what they compute (expectSameKeys). */
function withoutKeys(group: GroupRecord) {
  const strip = ({ envelopeKey: _e, tagKey: _t, ...rest }: EpochRecord) => rest;
  return { ...group, current: strip(group.current), retained: group.retained.map(strip) };
}

async function withStore<T>(run: (store: ReturnType<typeof idbDeliveryStore>, db: AtmDb) => Promise<T>): Promise<T> {
  const db = await openAtmDb(freshDbName());
  try {
    return await run(idbDeliveryStore(db), db);
  } finally {
    db.close();
  }
}

describe('delivery state in IndexedDB: round trips', () => {
  it('a group keeps its bytes, tag windows and still-usable non-extractable keys', async () => {
    await withStore(async (store) => {
      const g1 = await group('g1');
      const g2 = await group('g2', { retained: [], active: false });
      delete g2.convoId;
      delete g2.parent;
      await store.apply({ putGroups: [g1, g2] });

      const read = await store.getGroup('g1');
      expect(read).toBeDefined();
      expect(withoutKeys(read!)).toStrictEqual(withoutKeys(g1));
      expect(read!.state).toBeInstanceOf(Uint8Array);
      expect(read!.parent!.state).toEqual(new Uint8Array([9, 8]));
      await expectSameKeys(read!.current, g1.current);
      await expectSameKeys(read!.retained[0]!, g1.retained[0]!);
      await expectSameKeys(read!.retained[1]!, g1.retained[1]!);

      const second = await store.getGroup('g2');
      expect(withoutKeys(second!)).toStrictEqual(withoutKeys(g2));
      expect('convoId' in second! || 'parent' in second!).toBe(false);

      expect((await store.listGroups()).map((g) => g.groupId)).toEqual(['g1', 'g2']);
      expect(await store.getGroup('nope')).toBeUndefined();
    });
  });

  it('messages, outbox items, cursors, pending events and welcomes read back exactly', async () => {
    await withStore(async (store) => {
      const m = { ...message('g1', 'm1', 100), own: true, status: 'sending' as const };
      const o = outbox('3lbout1', 50);
      const bare: OutboxItem = { rkey: '3lbout2', collection: 'c', record: 'x', createdAt: 51, attempts: 2, nextAttemptAt: 99 };
      const c = cursor('did:plc:bob', '3lbcur');
      const p = pendingEvent('3lbpend');
      await store.apply({ putMessages: [m], putOutbox: [o, bare], putCursors: [c], putPending: [p], addWelcomes: ['w1'] });

      expect(await store.getMessage('g1', 'm1')).toStrictEqual(m);
      expect(await store.getMessage('g1', 'm2')).toBeUndefined();
      expect(await store.getMessage('g2', 'm1')).toBeUndefined();
      expect(await store.listOutbox()).toStrictEqual([o, bare]);
      expect((await store.listOutbox())[0]!.blob).toBeInstanceOf(Uint8Array);
      expect(await store.getCursor('did:plc:bob')).toStrictEqual(c);
      expect(await store.getCursor('did:plc:carol')).toBeUndefined();
      const [readPending] = await store.listPending();
      expect(readPending).toStrictEqual(p);
      expect(readPending!.tag).toBeInstanceOf(Uint8Array);
      expect(await store.isWelcomeUsed('w1')).toBe(true);
      expect(await store.isWelcomeUsed('w2')).toBe(false);
    });
  });

  it('a put replaces the record under the same key', async () => {
    await withStore(async (store) => {
      await store.apply({ putMessages: [message('g1', 'm1', 1)], putCursors: [cursor('did:plc:bob', 'a')] });
      await store.apply({
        putMessages: [{ ...message('g1', 'm1', 1), status: 'failed' }],
        putCursors: [cursor('did:plc:bob', 'b')],
      });
      expect((await store.getMessage('g1', 'm1'))!.status).toBe('failed');
      expect(await store.listMessages('g1')).toHaveLength(1);
      expect((await store.getCursor('did:plc:bob'))!.rkey).toBe('b');
    });
  });
});

describe('delivery state in IndexedDB: order', () => {
  it("lists a group's messages oldest first, ties by id, and only that group's", async () => {
    await withStore(async (store) => {
      // Group ids that prefix each other, or sort around 'g1', must not leak into its range.
      await store.apply({
        putMessages: [
          message('g1', 'c', 30),
          message('g10', 'x', 15),
          message('g', 'y', 15),
          message('g1', 'b', 10),
          message('g2', 'z', 5),
        ],
      });
      await store.apply({ putMessages: [message('g1', 'a', 30), message('g1', 'd', -1), message('g1', 'e', 10)] });

      expect((await store.listMessages('g1')).map((m) => `${m.sentAt}:${m.id}`)).toEqual([
        '-1:d',
        '10:b',
        '10:e',
        '30:a',
        '30:c',
      ]);
      expect((await store.listMessages('g10')).map((m) => m.id)).toEqual(['x']);
      expect((await store.listMessages('g')).map((m) => m.id)).toEqual(['y']);
      expect(await store.listMessages('g3')).toEqual([]);
    });
  });

  it('lists the outbox oldest first across groups, ties by rkey', async () => {
    await withStore(async (store) => {
      await store.apply({ putOutbox: [outbox('r5', 300, 'g2'), outbox('r2', 100, 'g1'), outbox('r9', 200, 'g2')] });
      await store.apply({ putOutbox: [outbox('r1', 200, 'g1'), outbox('r7', 50, 'g3')] });
      expect((await store.listOutbox()).map((o) => `${o.createdAt}:${o.rkey}`)).toEqual([
        '50:r7',
        '100:r2',
        '200:r1',
        '200:r9',
        '300:r5',
      ]);
    });
  });
});

describe('delivery state in IndexedDB: atomicity', () => {
  async function seed(store: ReturnType<typeof idbDeliveryStore>) {
    const before = await group('g1', { updatedAt: 1 });
    await store.apply({
      putGroups: [before],
      putOutbox: [outbox('old', 1)],
      putCursors: [cursor('did:plc:bob', 'r1')],
      addWelcomes: ['used'],
    });
    return before;
  }

  async function expectUnchanged(store: ReturnType<typeof idbDeliveryStore>) {
    expect((await store.getGroup('g1'))!.updatedAt).toBe(1);
    expect(await store.getGroup('g2')).toBeUndefined();
    expect(await store.listMessages('g1')).toEqual([]);
    expect((await store.listOutbox()).map((o) => o.rkey)).toEqual(['old']);
    expect((await store.getCursor('did:plc:bob'))!.rkey).toBe('r1');
    expect(await store.listPending()).toEqual([]);
    expect(await store.isWelcomeUsed('new')).toBe(false);
    expect(await store.isWelcomeUsed('used')).toBe(true);
  }

  /** Changes to every store; each would be visible if written. */
  async function fullChangeSet(): Promise<ChangeSet> {
    return {
      putGroups: [await group('g1', { updatedAt: 2 }), await group('g2')],
      putMessages: [message('g1', 'ok', 1)],
      deleteOutbox: ['old'],
      putOutbox: [outbox('new', 2)],
      putCursors: [cursor('did:plc:bob', 'r2')],
      putPending: [pendingEvent('p1')],
      addWelcomes: ['new'],
    };
  }

  it('a request refused synchronously (a message without its key path) writes nothing', async () => {
    await withStore(async (store) => {
      await seed(store);
      const changes = await fullChangeSet();
      const { id: _id, ...noId } = message('g1', 'bad', 3);
      changes.putMessages!.push(noId as MessageRecord);

      const error = await store.apply(changes).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as DOMException).name).toBe('DataError');
      await expectUnchanged(store);
    });
  });

  it('a request failing in the transaction (a Welcome used twice) writes nothing and is WelcomeReplayed', async () => {
    await withStore(async (store) => {
      await seed(store);
      const changes = await fullChangeSet();
      changes.addWelcomes = ['new', 'used'];

      const error = await store.apply(changes).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isAtmError(error, 'WelcomeReplayed')).toBe(true);
      expect((error as { context: unknown }).context).toEqual({ welcomeId: 'used' });
      await expectUnchanged(store);

      // The same ChangeSet without the replay goes through whole.
      changes.addWelcomes = ['new'];
      await store.apply(changes);
      expect((await store.getGroup('g1'))!.updatedAt).toBe(2);
      expect((await store.listOutbox()).map((o) => o.rkey)).toEqual(['new']);
      expect(await store.isWelcomeUsed('new')).toBe(true);
    });
  });

  it('refuses a record that the index would silently leave out, before writing anything', async () => {
    await withStore(async (store) => {
      await seed(store);
      const nan = await fullChangeSet();
      nan.putMessages!.push(message('g1', 'nan', Number.NaN));
      await expect(store.apply(nan)).rejects.toSatisfy((e) => isAtmError(e, 'InvalidInput'));
      const missing = await fullChangeSet();
      missing.putOutbox!.push({ ...outbox('x', 0), createdAt: undefined as unknown as number });
      await expect(store.apply(missing)).rejects.toSatisfy((e) => isAtmError(e, 'InvalidInput'));
      await expectUnchanged(store);
    });
  });

  it('an empty ChangeSet opens no transaction; others open one over exactly their stores', async () => {
    const transaction = vi.fn(() => {
      throw new Error('opened');
    });
    const store = idbDeliveryStore({ transaction } as unknown as AtmDb);
    await store.apply({});
    await store.apply({ putGroups: [], deleteGroups: [], putMessages: [], addWelcomes: [], deletePending: [] });
    expect(transaction).not.toHaveBeenCalled();

    await expect(store.apply({ putCursors: [cursor('d', 'r')], deletePending: ['u'], putGroups: [] })).rejects.toThrow(
      'opened',
    );
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(transaction).toHaveBeenCalledWith(['cursors', 'pending'], 'readwrite');
  });
});

describe('delivery state in IndexedDB: deletes', () => {
  it('deletes groups, outbox items and pending events; a missing key is no error', async () => {
    await withStore(async (store) => {
      await store.apply({
        putGroups: [await group('g1'), await group('g2')],
        putMessages: [message('g1', 'm1', 1)],
        putOutbox: [outbox('r1', 1), outbox('r2', 2)],
        putPending: [pendingEvent('p1'), pendingEvent('p2')],
      });
      await store.apply({
        deleteGroups: ['g1', 'never'],
        deleteOutbox: ['r1', 'never'],
        deletePending: [pendingEvent('p2').uri, 'at://never'],
      });
      expect((await store.listGroups()).map((g) => g.groupId)).toEqual(['g2']);
      expect(await store.getGroup('g1')).toBeUndefined();
      expect((await store.listOutbox()).map((o) => o.rkey)).toEqual(['r2']);
      expect((await store.listPending()).map((p) => p.rkey)).toEqual(['p1']);
      // History stays: a group's messages are not deleted with it.
      expect((await store.listMessages('g1')).map((m) => m.id)).toEqual(['m1']);
    });
  });

  it('within one ChangeSet deletes run before puts, so the put of a deleted key stays', async () => {
    await withStore(async (store) => {
      await store.apply({ putOutbox: [outbox('r1', 1)], putPending: [pendingEvent('p1')] });
      await store.apply({
        deleteOutbox: ['r1'],
        putOutbox: [{ ...outbox('r1', 1), attempts: 3 }],
        deletePending: [pendingEvent('p1').uri],
        putPending: [{ ...pendingEvent('p1'), firstSeenAt: 42 }],
      });
      expect((await store.listOutbox()).map((o) => o.attempts)).toEqual([3]);
      expect((await store.listPending()).map((p) => p.firstSeenAt)).toEqual([42]);
    });
  });
});

describe('delivery state in IndexedDB: counting parked events', () => {
  it("counts all, or one repo's without matching another DID that shares its prefix", async () => {
    await withStore(async (store) => {
      const from = (did: string, rkey: string): PendingEvent => ({
        ...pendingEvent(rkey),
        uri: `at://${did}/org.atmessaging.event/${rkey}`,
        did,
      });
      await store.apply({
        putPending: [from('did:plc:bob', 'p1'), from('did:plc:bob', 'p2'), from('did:plc:bobby', 'p3'), from('did:plc:ann', 'p4')],
      });
      expect(await store.countPending()).toBe(4);
      expect(await store.countPending('did:plc:bob')).toBe(2);
      expect(await store.countPending('did:plc:bobby')).toBe(1);
      expect(await store.countPending('did:plc:carol')).toBe(0);
    });
  });
});

describe('wiping the device (sign-out)', () => {
  it('empties every store but the network settings, and the group records held in memory with them', async () => {
    await withStore(async (store, db) => {
      await db.put('account', { plcUrl: 'http://plc.test' }, 'network');
      await db.put('account', { did: 'did:plc:old' }, 'session');
      await store.apply({ putGroups: [await group('g1')], putPending: [pendingEvent('p1')] });
      expect((await store.listGroups()).map((g) => g.groupId)).toEqual(['g1']); // now held in memory

      await wipeDeviceState(db);
      expect(await store.listGroups()).toEqual([]);
      expect(await store.getGroup('g1')).toBeUndefined();
      expect(await idbDeliveryStore(db).listGroups()).toEqual([]);
      expect(await store.countPending()).toBe(0);
      expect(await db.getAllKeys('account')).toEqual(['network']);
    });
  });
});

describe('opening the version 3 database', () => {
  it('upgrades a version 2 database and keeps its device and key packages', async () => {
    const name = freshDbName();
    // The version 2 schema exactly as db.ts created it before delivery state.
    const v2 = await openDB(name, 2, {
      upgrade(db, oldVersion) {
        if (oldVersion < 1) db.createObjectStore('convoSettings', { keyPath: 'convoId' });
        if (oldVersion < 2) {
          db.createObjectStore('device');
          db.createObjectStore('keyPackages', { keyPath: 'ref' });
        }
      },
    });
    const invite = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
    const device: LocalDevice = {
      did: 'did:plc:alice',
      rkey: '3lbaaaaaaaaaa',
      uri: 'at://did:plc:alice/org.atmessaging.device/3lbaaaaaaaaaa',
      signature: { publicKey: new Uint8Array(32).fill(1), signKey: new Uint8Array(48).fill(2) },
      invite: { publicKey: new Uint8Array(32).fill(3), privateKey: invite.privateKey },
      createdAt: '2024-01-01T00:00:00.000Z',
      published: true,
    };
    const secret: KeyPackageSecret = {
      ref: 'aa',
      rkey: '3lbkp',
      lastResort: true,
      notAfter: 99,
      encoded: new Uint8Array([5, 6]),
      privateKeyPackage: { init: new Uint8Array([7]) },
      state: 'published',
    };
    await v2.put('device', device, 'self');
    await v2.put('keyPackages', secret);
    await v2.put('convoSettings', { convoId: 'c1', encrypted: true, updatedAt: 3 });
    v2.close();

    const db = await openAtmDb(name);
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(
      ['account', 'chatMembers', 'contacts', 'convoSettings', 'cursors', 'device', 'groups', 'keyPackages', 'messages', 'outbox', 'ownEvents', 'pending', 'welcomes'].sort(),
    );
    const { privateKey, ...rest } = (await idbDeviceStore(db).load())!.invite;
    expect(rest).toEqual({ publicKey: device.invite.publicKey });
    expect(privateKey).toBeInstanceOf(CryptoKey);
    expect(privateKey.algorithm.name).toBe('X25519');
    expect({ ...(await idbDeviceStore(db).load())!, invite: undefined }).toStrictEqual({ ...device, invite: undefined });
    expect(await idbKeyPackageStore(db).get('aa')).toStrictEqual(secret);
    expect(await db.get('convoSettings', 'c1')).toEqual({ convoId: 'c1', encrypted: true, updatedAt: 3 });

    // The new stores work on the upgraded database.
    const store = idbDeliveryStore(db);
    await store.apply({ putMessages: [message('g1', 'm1', 1)], addWelcomes: ['w'] });
    expect((await store.listMessages('g1')).map((m) => m.id)).toEqual(['m1']);
    await store.apply({
      putOwnEvents: [
        { rkey: 'b', collection: 'org.atmessaging.event', publishedAt: 20 },
        { rkey: 'a', collection: 'org.atmessaging.event', publishedAt: 10 },
      ],
    });
    expect((await store.listOwnEvents()).map((e) => e.rkey)).toEqual(['a', 'b']);
    await store.apply({ deleteOwnEvents: ['a'] });
    expect((await store.listOwnEvents()).map((e) => e.rkey)).toEqual(['b']);
    db.close();
  });

  it('opens twice at once and again after closing, with the data kept', async () => {
    const name = freshDbName();
    const [a, b] = await Promise.all([openAtmDb(name), openAtmDb(name)]);
    expect([a.version, b.version]).toEqual([DB_VERSION, DB_VERSION]);
    await idbDeliveryStore(a).apply({ putCursors: [cursor('did:plc:bob', 'r1')] });
    expect(await idbDeliveryStore(b).getCursor('did:plc:bob')).toEqual(cursor('did:plc:bob', 'r1'));
    a.close();
    b.close();

    const again = await openAtmDb(name);
    expect(again.version).toBe(DB_VERSION);
    expect(await idbDeliveryStore(again).getCursor('did:plc:bob')).toEqual(cursor('did:plc:bob', 'r1'));
    again.close();
  });
});
