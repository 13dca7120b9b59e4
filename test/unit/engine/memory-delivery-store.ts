import type {
  ChangeSet,
  CursorRecord,
  DeliveryStore,
  GroupRecord,
  MessageRecord,
  OutboxItem,
  OwnEvent,
  PendingEvent,
} from '../../../src/engine/delivery-state';
import { AtmError } from '../../../src/errors';

/**
 * An in-memory DeliveryStore for unit tests of the use cases. Values are structured-cloned in and
 * out, as IndexedDB does, and `apply` is all or nothing: it builds the next state on copies and
 * swaps it in only when every change went through. `failApplyOnce()` makes the next apply throw
 * without changing anything (a transaction that aborts).
 */
export class MemoryDeliveryStore implements DeliveryStore {
  private groups = new Map<string, GroupRecord>();
  private messages = new Map<string, MessageRecord>();
  private outbox = new Map<string, OutboxItem>();
  private cursors = new Map<string, CursorRecord>();
  private pending = new Map<string, PendingEvent>();
  private welcomes = new Set<string>();
  private ownEvents = new Map<string, OwnEvent>();
  private failNext = false;
  /** Every ChangeSet applied, in order (failed ones not included). */
  readonly applied: ChangeSet[] = [];

  failApplyOnce(): void {
    this.failNext = true;
  }

  async apply(changes: ChangeSet): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('MemoryDeliveryStore: transaction aborted');
    }
    const c = structuredClone(changes);
    const groups = new Map(this.groups);
    const messages = new Map(this.messages);
    const outbox = new Map(this.outbox);
    const cursors = new Map(this.cursors);
    const pending = new Map(this.pending);
    const welcomes = new Set(this.welcomes);
    const ownEvents = new Map(this.ownEvents);
    // Same order as the IndexedDB store: within a store, deletes before puts.
    for (const id of c.deleteGroups ?? []) groups.delete(id);
    for (const g of c.putGroups ?? []) groups.set(g.groupId, g);
    for (const m of c.putMessages ?? []) messages.set(messageKey(m.groupId, m.id), m);
    for (const rkey of c.deleteOutbox ?? []) outbox.delete(rkey);
    for (const o of c.putOutbox ?? []) outbox.set(o.rkey, o);
    for (const cur of c.putCursors ?? []) cursors.set(cur.did, cur);
    for (const uri of c.deletePending ?? []) pending.delete(uri);
    for (const p of c.putPending ?? []) pending.set(p.uri, p);
    for (const w of c.addWelcomes ?? []) {
      if (welcomes.has(w)) throw new AtmError('WelcomeReplayed', 'this Welcome was already used', { welcomeId: w });
      welcomes.add(w);
    }
    for (const rkey of c.deleteOwnEvents ?? []) ownEvents.delete(rkey);
    for (const e of c.putOwnEvents ?? []) ownEvents.set(e.rkey, e);
    this.groups = groups;
    this.messages = messages;
    this.outbox = outbox;
    this.cursors = cursors;
    this.pending = pending;
    this.welcomes = welcomes;
    this.ownEvents = ownEvents;
    this.applied.push(structuredClone(changes));
  }

  async getGroup(groupId: string): Promise<GroupRecord | undefined> {
    return clone(this.groups.get(groupId));
  }

  async listOwnEvents(): Promise<OwnEvent[]> {
    return [...this.ownEvents.values()].sort((a, b) => a.publishedAt - b.publishedAt).map((e) => structuredClone(e));
  }

  async listGroups(): Promise<GroupRecord[]> {
    return [...this.groups.values()].map((g) => structuredClone(g));
  }

  async listConvoGroups(convoId: string): Promise<GroupRecord[]> {
    return [...this.groups.values()]
      .filter((g) => g.convoId === convoId)
      .sort((a, b) => compare(a.groupId, b.groupId))
      .map((g) => structuredClone(g));
  }

  async getMessage(groupId: string, id: string): Promise<MessageRecord | undefined> {
    return clone(this.messages.get(messageKey(groupId, id)));
  }

  async listMessages(groupId: string): Promise<MessageRecord[]> {
    return [...this.messages.values()]
      .filter((m) => m.groupId === groupId)
      .sort((a, b) => a.sentAt - b.sentAt || compare(a.id, b.id))
      .map((m) => structuredClone(m));
  }

  async listOutbox(): Promise<OutboxItem[]> {
    return [...this.outbox.values()]
      .sort((a, b) => a.createdAt - b.createdAt || compare(a.rkey, b.rkey))
      .map((o) => structuredClone(o));
  }

  async getCursor(did: string): Promise<CursorRecord | undefined> {
    return clone(this.cursors.get(did));
  }

  async listPending(): Promise<PendingEvent[]> {
    return [...this.pending.values()].map((p) => structuredClone(p));
  }

  async countPending(did?: string): Promise<number> {
    return [...this.pending.values()].filter((p) => did === undefined || p.did === did).length;
  }

  async isWelcomeUsed(id: string): Promise<boolean> {
    return this.welcomes.has(id);
  }
}

function messageKey(groupId: string, id: string): string {
  return `${groupId}/${id}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function clone<T>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : structuredClone(value);
}
