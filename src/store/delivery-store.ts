import type { ChangeSet, DeliveryStore } from '../engine/delivery-state';
import { withGroupCache, type CachedDeliveryStore } from '../engine/group-cache';
import { AtmError } from '../errors';
import type { AtmDb } from './db';

type DeliveryStoreName = 'groups' | 'messages' | 'outbox' | 'cursors' | 'pending' | 'welcomes' | 'ownEvents';

const opened = new WeakMap<AtmDb, CachedDeliveryStore>();

/**
 * The delivery state in the background's IndexedDB (stores created in db.ts, version 3), with
 * its group records kept in memory (src/engine/group-cache.ts). One store per database handle:
 * every caller shares the one cache, so none can write a group the others' cache misses.
 */
export function idbDeliveryStore(db: AtmDb): DeliveryStore {
  let store = opened.get(db);
  if (!store) opened.set(db, (store = withGroupCache(uncachedDeliveryStore(db))));
  return store;
}

/**
 * Everything of this device is gone from the database (sign-out): the group records held in
 * memory go too, or the next account signed in on this profile would see the last one's groups.
 */
export async function wipeDeviceState(db: AtmDb): Promise<void> {
  const stores = [...db.objectStoreNames];
  const tx = db.transaction(stores, 'readwrite');
  // Only IndexedDB requests in this transaction; requests on one store run in order, so the
  // network settings (not secret) are put back after their store is cleared.
  const network = await tx.objectStore('account').get('network');
  for (const name of stores) void tx.objectStore(name).clear();
  if (network) void tx.objectStore('account').put(network, 'network');
  try {
    await tx.done;
  } finally {
    // Even if the wipe failed part-way, memory must not hold more than the database does.
    opened.get(db)?.forget();
  }
}

/**
 * Within one ChangeSet a store's deletes run before its puts, so deleting and putting the same
 * key leaves the put. Deleting a group does not delete its messages (history stays).
 */
function uncachedDeliveryStore(db: AtmDb): DeliveryStore {
  return {
    apply: (changes) => apply(db, changes),
    getGroup: (groupId) => db.get('groups', groupId),
    listGroups: () => db.getAll('groups'),
    // Index order within one key is the primary key's: by group id, as listGroups.
    listConvoGroups: (convoId) => db.getAllFromIndex('groups', 'byConvo', convoId),
    getMessage: (groupId, id) => db.get('messages', [groupId, id]),
    // [groupId] sorts before every [groupId, sentAt, id] and [groupId, []] after them (an array
    // key is greater than any number): exactly this group's messages, in index order.
    listMessages: (groupId) =>
      db.getAllFromIndex('messages', 'byGroupSentAt', IDBKeyRange.bound([groupId], [groupId, []])),
    // Index order: createdAt, then the primary key (rkey) for ties.
    listOutbox: () => db.getAllFromIndex('outbox', 'byCreatedAt'),
    getCursor: (did) => db.get('cursors', did),
    listPending: () => db.getAll('pending'),
    // Keys are record URIs, `at://<did>/<collection>/<rkey>`: one repo's are one key range.
    countPending: (did) => db.count('pending', did === undefined ? undefined : IDBKeyRange.bound(`at://${did}/`, `at://${did}/\uffff`)),
    isWelcomeUsed: async (id) => (await db.count('welcomes', id)) > 0,
    listOwnEvents: () => db.getAllFromIndex('ownEvents', 'byPublishedAt'),
  };
}

async function apply(db: AtmDb, changes: ChangeSet): Promise<void> {
  checkIndexKeys(changes);
  const names = touchedStores(changes);
  if (names.length === 0) return;

  const tx = db.transaction(names, 'readwrite');
  const writes: Promise<unknown>[] = [];
  let refused: { error: unknown } | undefined;
  // Only IndexedDB requests from here to `tx.done`: awaiting anything else (WebCrypto, fetch, a
  // timer) lets the transaction auto-commit with part of the ChangeSet, and the requests made
  // after that throw TransactionInactiveError. So every request is issued synchronously.
  try {
    // A list is non-empty only if touchedStores put its store in the transaction.
    for (const groupId of changes.deleteGroups ?? []) writes.push(tx.objectStore('groups').delete(groupId));
    for (const group of changes.putGroups ?? []) writes.push(tx.objectStore('groups').put(group));
    for (const message of changes.putMessages ?? []) writes.push(tx.objectStore('messages').put(message));
    for (const rkey of changes.deleteOutbox ?? []) writes.push(tx.objectStore('outbox').delete(rkey));
    for (const item of changes.putOutbox ?? []) writes.push(tx.objectStore('outbox').put(item));
    for (const cursor of changes.putCursors ?? []) writes.push(tx.objectStore('cursors').put(cursor));
    for (const uri of changes.deletePending ?? []) writes.push(tx.objectStore('pending').delete(uri));
    for (const event of changes.putPending ?? []) writes.push(tx.objectStore('pending').put(event));
    for (const rkey of changes.deleteOwnEvents ?? []) writes.push(tx.objectStore('ownEvents').delete(rkey));
    for (const event of changes.putOwnEvents ?? []) writes.push(tx.objectStore('ownEvents').put(event));
    for (const id of changes.addWelcomes ?? []) {
      // `add`, not `put`: two joins from one Welcome that both passed isWelcomeUsed race to
      // here, and the second must store nothing (§6.6).
      writes.push(
        tx.objectStore('welcomes').add({ id }, id).catch((error: unknown) => {
          throw isConstraintError(error)
            ? new AtmError('WelcomeReplayed', 'this Welcome was already used', { welcomeId: id }, { cause: error })
            : error;
        }),
      );
    }
  } catch (error) {
    // A request refused synchronously (e.g. a value without its key path: DataError) does not
    // abort the transaction, and the requests already made would commit: abort it ourselves.
    refused = { error };
    tx.abort();
  }

  // A failed request aborts the transaction (idb does not prevent the default), so the first
  // rejection in issue order is the cause and the later ones are AbortErrors.
  const settled = await Promise.allSettled([...writes, tx.done]);
  if (refused) throw refused.error;
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

function touchedStores(changes: ChangeSet): DeliveryStoreName[] {
  const names: DeliveryStoreName[] = [];
  const some = (...lists: (readonly unknown[] | undefined)[]) => lists.some((list) => (list?.length ?? 0) > 0);
  if (some(changes.putGroups, changes.deleteGroups)) names.push('groups');
  if (some(changes.putMessages)) names.push('messages');
  if (some(changes.putOutbox, changes.deleteOutbox)) names.push('outbox');
  if (some(changes.putCursors)) names.push('cursors');
  if (some(changes.putPending, changes.deletePending)) names.push('pending');
  if (some(changes.addWelcomes)) names.push('welcomes');
  if (some(changes.putOwnEvents, changes.deleteOwnEvents)) names.push('ownEvents');
  return names;
}

/**
 * IndexedDB stores a record whose index key is invalid (NaN, missing) but leaves it out of the
 * index without an error: a message that never lists, an outbox item never sent. Refuse them.
 */
function checkIndexKeys(changes: ChangeSet): void {
  for (const message of changes.putMessages ?? []) {
    if (!isKeyNumber(message.sentAt)) {
      throw new AtmError('InvalidInput', 'a message has no valid sentAt', { groupId: message.groupId, id: message.id });
    }
  }
  for (const item of changes.putOutbox ?? []) {
    if (!isKeyNumber(item.createdAt)) {
      throw new AtmError('InvalidInput', 'an outbox item has no valid createdAt', { rkey: item.rkey });
    }
  }
}

function isKeyNumber(value: unknown): boolean {
  return typeof value === 'number' && !Number.isNaN(value);
}

function isConstraintError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'ConstraintError';
}
