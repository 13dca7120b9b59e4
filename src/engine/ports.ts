/**
 * The interfaces the use cases depend on. The background wires IndexedDB and the system clock
 * in; tests wire fake-indexeddb or in-memory versions. Nothing in engine/ imports a browser API.
 */
export interface Clock {
  now(): number;
}

export interface ConvoSetting {
  convoId: string;
  encrypted: boolean;
  updatedAt: number;
}

export interface ConvoSettingsStore {
  get(convoId: string): Promise<ConvoSetting | undefined>;
  put(setting: ConvoSetting): Promise<void>;
}
