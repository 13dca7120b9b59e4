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

/** This browser profile as an atmessaging device (docs/protocol.md §Devices). */
export interface LocalDevice {
  did: string;
  /** Record key of the device record: the device id. */
  rkey: string;
  /** `at://<did>/org.atmessaging.device/<rkey>`: the MLS credential identity. */
  uri: string;
  /** MLS signature key pair (raw Ed25519 public key, PKCS#8 private key as ts-mls needs it). */
  signature: { publicKey: Uint8Array; signKey: Uint8Array };
  /** X25519 invite key; the private key is a non-extractable WebCrypto key. */
  invite: { publicKey: Uint8Array; privateKey: CryptoKey };
  createdAt: string;
  /** Set once the device record is acknowledged by the PDS. */
  published: boolean;
}

export interface DeviceStore {
  load(): Promise<LocalDevice | undefined>;
  save(device: LocalDevice): Promise<void>;
}

/** The private half of one published KeyPackage. Saved before the record is written. */
export interface KeyPackageSecret {
  /** KeyPackageRef, hex: how a Welcome names the package. */
  ref: string;
  /** rkey of its org.atmessaging.keyPackage record. */
  rkey: string;
  lastResort: boolean;
  notAfter: number;
  /** MLSMessage bytes, as published. */
  encoded: Uint8Array;
  /** ts-mls PrivateKeyPackage (init, encryption and signature private keys). */
  privateKeyPackage: unknown;
  /**
   * pending: saved, record not yet acknowledged; published: in the repo; withdrawn: record
   * deleted (close to expiry), private keys kept a grace period for Welcomes in flight.
   */
  state: 'pending' | 'published' | 'withdrawn';
}

export interface KeyPackageStore {
  list(): Promise<KeyPackageSecret[]>;
  get(ref: string): Promise<KeyPackageSecret | undefined>;
  put(secret: KeyPackageSecret): Promise<void>;
  delete(ref: string): Promise<void>;
}

export interface RepoRecord {
  uri: string;
  cid: string;
  rkey: string;
  value: unknown;
}

/** The signed-in user's own repo (writes need the session). */
export interface OwnRepo {
  readonly did: string;
  /** Idempotent for the same rkey and record: a retry after a lost answer changes nothing. */
  putRecord(collection: string, rkey: string, record: unknown): Promise<{ uri: string; cid: string }>;
  /** Deleting an absent record succeeds. */
  deleteRecord(collection: string, rkey: string): Promise<void>;
}

/** Anyone's repo, read from their own PDS without credentials. */
export interface PublicRepos {
  /** Every record of a collection (all pages, bounded by `max`). */
  listRecords(did: string, collection: string, options?: { max?: number }): Promise<RepoRecord[]>;
}
