import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { ContactVerification, KeyPackageSecret, LocalDevice } from '../engine/ports';
import type { CursorRecord, GroupRecord, MessageRecord, OutboxItem, PendingEvent, OwnEvent } from '../engine/delivery-state';

/**
 * The background's IndexedDB. Every store is declared here so upgrades are in one place;
 * later layers add stores with a version bump and an upgrade step, never by ad-hoc creation.
 */
export interface ConvoSettingRecord {
  convoId: string;
  encrypted?: boolean;
  updatedAt: number;
  readAt?: number;
}

/**
 * A used Welcome (§6.6), stored under its id as an out-of-line key. The value repeats the id so
 * a dump of the store reads on its own; a ChangeSet names no time, so none is kept.
 */
export interface WelcomeRecord {
  id: string;
}

export interface AtmDbSchema extends DBSchema {
  convoSettings: { key: string; value: ConvoSettingRecord };
  /** This browser profile's device: one row under the key 'self'. */
  device: { key: 'self'; value: LocalDevice };
  /** Private halves of the KeyPackages this device published, by KeyPackageRef (hex). */
  keyPackages: { key: string; value: KeyPackageSecret };
  /** Delivery state (src/store/delivery-store.ts), from version 3. */
  groups: { key: string; value: GroupRecord };
  messages: {
    key: [groupId: string, id: string];
    value: MessageRecord;
    /** A group's messages in display order: a range scan over one groupId. */
    indexes: { byGroupSentAt: [groupId: string, sentAt: number, id: string] };
  };
  outbox: { key: string; value: OutboxItem; indexes: { byCreatedAt: number } };
  cursors: { key: string; value: CursorRecord };
  pending: { key: string; value: PendingEvent };
  /** Welcomes used (§6.6), keyed by their SHA-256 id (out-of-line). */
  welcomes: { key: string; value: WelcomeRecord };
  /** The signed-in session (tokens: secrets) under 'self'; network settings under 'network'. */
  account: { key: string; value: unknown };
  /** Events we published, for deletion after the retention period (docs/protocol.md §7). */
  ownEvents: { key: string; value: OwnEvent; indexes: { byPublishedAt: number } };
  /** Safety numbers the user verified, by contact DID (docs/protocol.md §9), from version 6. */
  contacts: { key: string; value: ContactVerification };
}

export type AtmDb = IDBPDatabase<AtmDbSchema>;

export const DB_NAME = 'atmessaging';
export const DB_VERSION = 6;

export function openAtmDb(name: string = DB_NAME): Promise<AtmDb> {
  return openDB<AtmDbSchema>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('convoSettings', { keyPath: 'convoId' });
      }
      if (oldVersion < 2) {
        db.createObjectStore('device');
        db.createObjectStore('keyPackages', { keyPath: 'ref' });
      }
      if (oldVersion < 3) {
        db.createObjectStore('groups', { keyPath: 'groupId' });
        const messages = db.createObjectStore('messages', { keyPath: ['groupId', 'id'] });
        messages.createIndex('byGroupSentAt', ['groupId', 'sentAt', 'id']);
        const outbox = db.createObjectStore('outbox', { keyPath: 'rkey' });
        outbox.createIndex('byCreatedAt', 'createdAt');
        db.createObjectStore('cursors', { keyPath: 'did' });
        db.createObjectStore('pending', { keyPath: 'uri' });
        db.createObjectStore('welcomes');
      }
      if (oldVersion < 4) {
        db.createObjectStore('ownEvents', { keyPath: 'rkey' }).createIndex('byPublishedAt', 'publishedAt');
      }
      if (oldVersion < 5) {
        db.createObjectStore('account');
      }
      if (oldVersion < 6) {
        db.createObjectStore('contacts', { keyPath: 'did' });
      }
    },
  });
}
