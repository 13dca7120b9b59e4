import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import { idbChatMembers } from '../../../src/store/chat-members';
import { DB_VERSION, openAtmDb } from '../../../src/store/db';
import { idbDeliveryStore, wipeDeviceState } from '../../../src/store/delivery-store';

let n = 0;
const freshDbName = () => `atm-chat-members-${Date.now()}-${n++}`;

describe('chat member lists in IndexedDB', () => {
  it('are kept per conversation across a reopen, replaced by a newer answer, and wiped at sign-out', async () => {
    const name = freshDbName();
    const db = await openAtmDb(name);
    const store = idbChatMembers(db);
    expect(await store.get('c1')).toBeUndefined();
    await store.put({ convoId: 'c1', dids: ['did:plc:a', 'did:plc:b'], at: 1 });
    db.close();

    const again = await openAtmDb(name);
    expect(await idbChatMembers(again).get('c1')).toEqual({ convoId: 'c1', dids: ['did:plc:a', 'did:plc:b'], at: 1 });
    await idbChatMembers(again).put({ convoId: 'c1', dids: ['did:plc:a'], at: 2 });
    expect(await idbChatMembers(again).get('c1')).toEqual({ convoId: 'c1', dids: ['did:plc:a'], at: 2 });
    await wipeDeviceState(again);
    expect(await idbChatMembers(again).get('c1')).toBeUndefined();
  });

  it('come with the upgrade from version 6, which keeps what was stored and indexes the groups by conversation', async () => {
    const name = freshDbName();
    const v6 = await openDB(name, 6, {
      upgrade(db) {
        // Enough of version 6 for this test: the stores it writes and the new one's absence.
        db.createObjectStore('convoSettings', { keyPath: 'convoId' });
        db.createObjectStore('contacts', { keyPath: 'did' });
        db.createObjectStore('groups', { keyPath: 'groupId' });
      },
    });
    for (const [groupId, convoId] of [['g2', 'c1'], ['g1', 'c1'], ['g3', 'c2'], ['g4', undefined]] as const) {
      await v6.put('groups', { groupId, ...(convoId ? { convoId } : {}), active: true } as never);
    }
    await v6.put('convoSettings', { convoId: 'c1', encrypted: true, updatedAt: 3 });
    await v6.put('contacts', { did: 'did:plc:bob', fingerprint: 'aa', verifiedAt: 1 });
    v6.close();

    const db = await openAtmDb(name);
    expect(db.version).toBe(DB_VERSION);
    expect(db.objectStoreNames.contains('chatMembers')).toBe(true);
    expect(await db.get('convoSettings', 'c1')).toEqual({ convoId: 'c1', encrypted: true, updatedAt: 3 });
    expect(await db.get('contacts', 'did:plc:bob')).toEqual({ did: 'did:plc:bob', fingerprint: 'aa', verifiedAt: 1 });
    expect(await idbChatMembers(db).get('c1')).toBeUndefined();
    // Groups stored before the upgrade are found by conversation, in group id order.
    const store = idbDeliveryStore(db);
    expect((await store.listConvoGroups('c1')).map((g) => g.groupId)).toEqual(['g1', 'g2']);
    expect((await store.listConvoGroups('c2')).map((g) => g.groupId)).toEqual(['g3']);
  });
});
