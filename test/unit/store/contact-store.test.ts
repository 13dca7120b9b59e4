import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import { idbContactVerifications } from '../../../src/store/contact-store';
import { idbConvoSettings } from '../../../src/store/convo-settings';
import { DB_VERSION, openAtmDb } from '../../../src/store/db';

let n = 0;
const freshDbName = () => `atm-contacts-${Date.now()}-${n++}`;

/** Each earlier schema exactly as db.ts created it, version by version. */
const EARLIER_STEPS: Array<(db: IDBDatabase) => void> = [
  (db) => db.createObjectStore('convoSettings', { keyPath: 'convoId' }),
  (db) => {
    db.createObjectStore('device');
    db.createObjectStore('keyPackages', { keyPath: 'ref' });
  },
  (db) => {
    db.createObjectStore('groups', { keyPath: 'groupId' });
    db.createObjectStore('messages', { keyPath: ['groupId', 'id'] }).createIndex('byGroupSentAt', [
      'groupId',
      'sentAt',
      'id',
    ]);
    db.createObjectStore('outbox', { keyPath: 'rkey' }).createIndex('byCreatedAt', 'createdAt');
    db.createObjectStore('cursors', { keyPath: 'did' });
    db.createObjectStore('pending', { keyPath: 'uri' });
    db.createObjectStore('welcomes');
  },
  (db) => db.createObjectStore('ownEvents', { keyPath: 'rkey' }).createIndex('byPublishedAt', 'publishedAt'),
  (db) => db.createObjectStore('account'),
  (db) => db.createObjectStore('contacts', { keyPath: 'did' }),
];

const ALL_STORES = [
  'account',
  'chatMembers',
  'contacts',
  'convoSettings',
  'cursors',
  'device',
  'groups',
  'keyPackages',
  'messages',
  'outbox',
  'ownEvents',
  'pending',
  'welcomes',
];

describe('contact verifications in IndexedDB', () => {
  it('are kept per DID across a reopen, replaced by a new verification, and deleted', async () => {
    const name = freshDbName();
    const db = await openAtmDb(name);
    const store = idbContactVerifications(db);
    expect(await store.get('did:plc:bob')).toBeUndefined();
    await store.put({ did: 'did:plc:bob', fingerprint: 'aa'.repeat(32), verifiedAt: 1 });
    await store.put({ did: 'did:plc:carol', fingerprint: 'cc'.repeat(32), verifiedAt: 2 });
    db.close();

    const again = idbContactVerifications(await openAtmDb(name));
    expect(await again.get('did:plc:bob')).toEqual({ did: 'did:plc:bob', fingerprint: 'aa'.repeat(32), verifiedAt: 1 });
    await again.put({ did: 'did:plc:bob', fingerprint: 'bb'.repeat(32), verifiedAt: 3 });
    expect(await again.get('did:plc:bob')).toEqual({ did: 'did:plc:bob', fingerprint: 'bb'.repeat(32), verifiedAt: 3 });
    await again.delete('did:plc:bob');
    await again.delete('did:plc:nobody');
    expect(await again.get('did:plc:bob')).toBeUndefined();
    expect(await again.get('did:plc:carol')).toMatchObject({ verifiedAt: 2 });
  });

  it.each([1, 2, 3, 4, 5])('come with the upgrade from version %i, which keeps what was stored', async (version) => {
    const name = freshDbName();
    const old = await openDB(name, version, {
      upgrade(db, oldVersion) {
        for (let step = oldVersion; step < version; step++) EARLIER_STEPS[step]!(db as unknown as IDBDatabase);
      },
    });
    await old.put('convoSettings', { convoId: 'c1', encrypted: true, updatedAt: 3 });
    if (version >= 5) await old.put('account', { plcUrl: 'https://plc.example' }, 'network');
    old.close();

    const db = await openAtmDb(name);
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(ALL_STORES);
    expect(await idbConvoSettings(db).get('c1')).toEqual({ convoId: 'c1', encrypted: true, updatedAt: 3 });
    if (version >= 5) expect(await db.get('account', 'network')).toEqual({ plcUrl: 'https://plc.example' });
    const contacts = idbContactVerifications(db);
    await contacts.put({ did: 'did:plc:bob', fingerprint: 'aa'.repeat(32), verifiedAt: 9 });
    expect(await contacts.get('did:plc:bob')).toMatchObject({ verifiedAt: 9 });
    db.close();
  });
});
