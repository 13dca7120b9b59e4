import { describe, expect, it } from 'vitest';
import { openAtmDb } from '../../../src/store/db';
import { idbConvoSettings } from '../../../src/store/convo-settings';
import { convoStatus, setConvoEncrypted } from '../../../src/engine/conversations';

let n = 0;
const freshDbName = () => `atm-test-${Date.now()}-${n++}`;

describe('conversation settings in IndexedDB', () => {
  it('defaults to not encrypted and persists the choice across database reopen', async () => {
    const name = freshDbName();
    const db = await openAtmDb(name);
    const store = idbConvoSettings(db);
    expect(await convoStatus(store, 'c1')).toEqual({ convoId: 'c1', encrypted: false });
    await setConvoEncrypted(store, { now: () => 1234 }, 'c1', true);
    db.close();

    const reopened = await openAtmDb(name);
    const again = idbConvoSettings(reopened);
    expect(await convoStatus(again, 'c1')).toEqual({ convoId: 'c1', encrypted: true });
    expect(await again.get('c1')).toEqual({ convoId: 'c1', encrypted: true, updatedAt: 1234 });
    expect(await convoStatus(again, 'c2')).toEqual({ convoId: 'c2', encrypted: false });
    reopened.close();
  });

  it('turning encryption off keeps the record (history stays)', async () => {
    const db = await openAtmDb(freshDbName());
    const store = idbConvoSettings(db);
    await setConvoEncrypted(store, { now: () => 1 }, 'c1', true);
    await setConvoEncrypted(store, { now: () => 2 }, 'c1', false);
    expect(await store.get('c1')).toEqual({ convoId: 'c1', encrypted: false, updatedAt: 2 });
    db.close();
  });
});

describe('reading a conversation', () => {
  it('records when it was read and decides nothing about encryption', async () => {
    const { markConvoRead } = await import('../../../src/engine/conversations');
    const db = await openAtmDb(freshDbName());
    const store = idbConvoSettings(db);
    await markConvoRead(store, { now: () => 50 }, 'joined');
    // A device that joined from an invite made no choice: reading must not turn it "off".
    expect((await store.get('joined'))?.encrypted).toBeUndefined();
    expect((await store.get('joined'))?.readAt).toBe(50);
    await setConvoEncrypted(store, { now: () => 60 }, 'chosen', true);
    await markConvoRead(store, { now: () => 70 }, 'chosen');
    expect(await store.get('chosen')).toMatchObject({ encrypted: true, readAt: 70 });
    db.close();
  });
});
