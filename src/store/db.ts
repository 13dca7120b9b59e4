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

/**
 * A conversation's member DIDs as the chat service last gave them, and when (ms since the
 * epoch): read again only while fresh (src/atproto/chat.ts), so a woken worker need not ask the
 * chat service again for a conversation it checked a minute ago.
 */
export interface ChatMembersRecord {
  convoId: string;
  dids: string[];
  at: number;
}

export interface AtmDbSchema extends DBSchema {
  convoSettings: { key: string; value: ConvoSettingRecord };
  /** This browser profile's device: one row under the key 'self'. */
  device: { key: 'self'; value: LocalDevice };
  /** Private halves of the KeyPackages this device published, by KeyPackageRef (hex). */
  keyPackages: { key: string; value: KeyPackageSecret };
  /** Delivery state (src/store/delivery-store.ts), from version 3. */
  /** `byConvo` (from version 7): the groups named for a conversation. */
  groups: { key: string; value: GroupRecord; indexes: { byConvo: string } };
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
  /** Conversation members from the chat service, by conversation id, from version 7. */
  chatMembers: { key: string; value: ChatMembersRecord };
}

export type AtmDb = IDBPDatabase<AtmDbSchema>;

export const DB_NAME = 'atmessaging';
export const DB_VERSION = 7;

export function openAtmDb(name: string = DB_NAME): Promise<AtmDb> {
  return openDB<AtmDbSchema>(name, DB_VERSION, {
    upgrade(db, oldVersion, _newVersion, tx) {
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
      if (oldVersion < 7) {
        db.createObjectStore('chatMembers', { keyPath: 'convoId' });
        tx.objectStore('groups').createIndex('byConvo', 'convoId');
      }
    },
  });
}
