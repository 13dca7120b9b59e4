/**
 * The interfaces the use cases depend on. The background wires IndexedDB and the system clock
 * in; tests wire fake-indexeddb or in-memory versions. Nothing in engine/ imports a browser API.
 */
export interface Clock {
  now(): number;
}

export interface ConvoSetting {
  convoId: string;
  /** The user's choice on this device; undefined when they made none (e.g. only read it). */
  encrypted?: boolean;
  updatedAt: number;
  /** When the user last saw the conversation in the panel (unread = received after). */
  readAt?: number;
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
  /**
   * The proven record, or undefined when the DID's signed repo provably does not contain it
   * (a revocation). An answer without a signed proof is an error, never undefined.
   */
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
  /**
   * When a Welcome was first accepted with this package. Its keys are kept a short while after
   * (`consumedGraceMs`): two members creating groups at once may have picked the same package.
   */
  consumedAt?: number;
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
  /**
   * Uploads bytes as an `application/octet-stream` blob (docs/protocol.md §6.5) and returns its
   * ref as lexicon JSON: `{$type: 'blob', ref: {$link}, mimeType, size}`. Blobs are
   * content-addressed, so uploading the same bytes again returns the same ref. The PDS drops a
   * blob no record references after a while: upload again right before each write that uses it.
   */
  uploadBlob(bytes: Uint8Array): Promise<unknown>;
}

/** Anyone's repo, read from their own PDS without credentials. */
export interface PublicRepos {
  /** Every record of a collection (all pages, bounded by `max`). */
  listRecords(did: string, collection: string, options?: { max?: number }): Promise<RepoRecord[]>;
  /**
   * At most `limit` (1..100) records whose rkey is strictly greater than `afterRkey` (all when
   * undefined), oldest first (ascending rkey: TIDs sort by time). `cursor` is the last record's
   * rkey when the page was full and more may follow; absent once caught up.
   */
  listRecordsAfter(
    did: string,
    collection: string,
    afterRkey: string | undefined,
    limit: number,
  ): Promise<{ records: RepoRecord[]; cursor?: string }>;
  /**
   * A blob's bytes (at most 4 MB, the event lexicon's maxSize), checked against `cid`: bytes that
   * do not hash to it are refused with `ProofInvalid`.
   */
  getBlob(did: string, cid: string): Promise<Uint8Array>;
}

/** The user verified a contact's safety number: the contact's fingerprint then (docs/protocol.md §9). */
export interface ContactVerification {
  did: string;
  /** The contact's fingerprint that was shown and accepted, lowercase hex (32 bytes). */
  fingerprint: string;
  verifiedAt: number;
}

export interface ContactVerificationStore {
  get(did: string): Promise<ContactVerification | undefined>;
  put(verification: ContactVerification): Promise<void>;
  /** Deleting an absent entry succeeds. */
  delete(did: string): Promise<void>;
}
