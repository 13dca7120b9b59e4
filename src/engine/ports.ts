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

/** A record whose presence in the DID's repo is proven by a commit signed with its `#atproto` key. */
export interface ProvenRecord {
  did: string;
  collection: string;
  rkey: string;
  cid: string;
  /** The record as lexicon JSON (`$bytes`/`$link` objects), ready for `parseRecord`. */
  json: unknown;
}

export interface RecordProver {
  /** The proven record, or undefined when the DID's signed repo does not contain it. */
  proveRecord(did: string, collection: string, rkey: string): Promise<ProvenRecord | undefined>;
}
