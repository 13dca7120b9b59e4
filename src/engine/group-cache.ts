import type { ChangeSet, DeliveryStore, GroupRecord } from './delivery-state';

/**
 * The device's group records, kept in memory in front of its store.
 *
 * Every event read looks its tag up in every group, so without this each event cost a read of
 * every group record, and reading one from IndexedDB structured-clones all of it (at 1,000
 * members its state and tag windows are several MB). The background is its database's only
 * writer (one per browser profile), and everything it writes goes through this one store, so
 * the records are read once and then follow its writes: a write's groups enter the cache only
 * after its transaction committed, so a failed `apply` leaves the cache as it leaves the store.
 *
 * Records are shared between callers, so they are frozen: code that changed one in place (and
 * so the cache, but not the store) throws instead.
 */
export interface CachedDeliveryStore extends DeliveryStore {
  /**
   * Drops the records held: the next read goes to the store. For a write made past this store
   * (sign-out's wipe clears every IndexedDB store in one transaction of its own).
   */
  forget(): void;
}

export function withGroupCache(store: DeliveryStore): CachedDeliveryStore {
  let byId: Map<string, GroupRecord> | undefined;
  let sorted: GroupRecord[] | undefined;
  let loading: Promise<Map<string, GroupRecord>> | undefined;
  /** Bumped by every write that touches groups: a read begun before it must not become the cache. */
  let writes = 0;

  function load(): Promise<Map<string, GroupRecord>> {
    if (byId) return Promise.resolve(byId);
    if (!loading) {
      const startedAt = writes;
      const read: Promise<Map<string, GroupRecord>> = store.listGroups().then(
        (groups) => {
          if (loading === read) loading = undefined;
          const map = new Map(groups.map((group) => [group.groupId, freezeRecord(group)]));
          if (writes === startedAt) byId = map;
          return map;
        },
        (error: unknown) => {
          if (loading === read) loading = undefined;
          throw error;
        },
      );
      loading = read;
    }
    return loading;
  }

  function afterCommit(changes: ChangeSet): void {
    const deletes = changes.deleteGroups ?? [];
    const puts = changes.putGroups ?? [];
    if (deletes.length === 0 && puts.length === 0) return;
    writes++;
    sorted = undefined;
    // A read still in flight began before this write: later reads must not wait for it.
    loading = undefined;
    if (!byId) return;
    // The store applies a ChangeSet's deletes before its puts.
    for (const groupId of deletes) byId.delete(groupId);
    for (const group of puts) byId.set(group.groupId, freezeRecord(group));
  }

  async function listGroups(): Promise<GroupRecord[]> {
    const map = await load();
    if (map !== byId) return [...map.values()].sort(byGroupId);
    // The store lists by primary key; callers get that same order.
    sorted ??= [...map.values()].sort(byGroupId);
    return sorted.slice();
  }

  return {
    ...store,
    forget() {
      byId = undefined;
      sorted = undefined;
      loading = undefined;
      writes++; // a read in flight may have begun before the write being accounted for
    },
    async apply(changes) {
      await store.apply(changes);
      afterCommit(changes);
    },
    async getGroup(groupId) {
      return (await load()).get(groupId);
    },
    async listConvoGroups(convoId) {
      // Held already: from memory. Otherwise only this conversation's records, without making
      // them the cache (a status answered on wake-up need not read every group).
      if (byId) return (await listGroups()).filter((group) => group.convoId === convoId);
      return (await store.listConvoGroups(convoId)).map((group) => freezeRecord(group));
    },
    listGroups,
  };
}

function byGroupId(a: GroupRecord, b: GroupRecord): number {
  return a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0;
}

/**
 * Freezes a record and the plain objects and arrays in it. Byte arrays and CryptoKeys are left
 * as they are (a typed array with elements cannot be frozen; keys are immutable). Parts already
 * frozen (shared with the previous version of the record) are not walked again.
 */
function freezeRecord<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return value;
  for (const key of Object.keys(value)) freezeRecord((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}
