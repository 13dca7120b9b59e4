import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { KeyPackageSecret, LocalDevice } from '../engine/ports';

/**
 * The background's IndexedDB. Every store is declared here so upgrades are in one place;
 * later layers add stores with a version bump and an upgrade step, never by ad-hoc creation.
 */
export interface ConvoSettingRecord {
  convoId: string;
  encrypted: boolean;
  updatedAt: number;
}

export interface AtmDbSchema extends DBSchema {
  convoSettings: { key: string; value: ConvoSettingRecord };
  /** This browser profile's device: one row under the key 'self'. */
  device: { key: 'self'; value: LocalDevice };
  /** Private halves of the KeyPackages this device published, by KeyPackageRef (hex). */
  keyPackages: { key: string; value: KeyPackageSecret };
}

export type AtmDb = IDBPDatabase<AtmDbSchema>;

export const DB_NAME = 'atmessaging';
export const DB_VERSION = 2;

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
    },
  });
}
