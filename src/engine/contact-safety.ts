import { toHex } from '../bytes';
import { AtmError, isAtmError, type AtmErrorCode } from '../errors';
import { parseDeviceUri } from '../protocol/device-uri';
import { DEVICE, DEVICE_COLLECTION_NSID, parseRecord } from '../protocol/records';
import { fingerprint, safetyNumber, type DeviceKey } from '../protocol/safety-number';
import type { AuthenticationService } from './authentication-service';
import type { Clock, ContactVerification, ContactVerificationStore, PublicRepos } from './ports';

/**
 * Key-change safety (docs/protocol.md §9): a contact's safety number comes from the device keys
 * their repo proves, the user marks the number they compared as verified, and a later change
 * of those keys turns "verified" into "changed" until they compare again.
 */

export type SafetyState = 'unverified' | 'verified' | 'changed';

/** unverified: never verified (or unverified since); changed: verified, but not these keys. */
export function safetyState(stored: ContactVerification | undefined, currentFingerprint: string): SafetyState {
  if (!stored) return 'unverified';
  return stored.fingerprint === currentFingerprint ? 'verified' : 'changed';
}

/** A DID's device set as its signed repo proves it. */
export interface ProvenDeviceSet {
  did: string;
  devices: Array<DeviceKey & { cid: string }>;
  /** Listed records that did not prove out (§9.2): never part of the fingerprint. */
  rejected: Array<{ uri: string; code: AtmErrorCode }>;
}

/** More device records than this and the set is refused rather than cut short. */
export const MAX_DEVICES = 64;

/** A listed record is left out for these; anything else (network, identity) decides nothing. */
const RECORD_FAILURES: readonly AtmErrorCode[] = [
  'InvalidRecord',
  'InvalidCredential',
  'UnknownDevice',
  'KeyMismatch',
  'ProofInvalid',
];

/**
 * Lists the DID's device records and keeps those the Authentication Service proves: present in
 * the repo under a commit signed by the DID's key, with the listed signature key. The listing
 * alone is unauthenticated, so nothing from it counts until proven.
 */
export async function provenDeviceSet(
  deps: { publicRepos: PublicRepos; as: AuthenticationService },
  did: string,
): Promise<ProvenDeviceSet> {
  const listed = await deps.publicRepos.listRecords(did, DEVICE_COLLECTION_NSID, { max: MAX_DEVICES + 1 });
  if (listed.length > MAX_DEVICES) {
    throw new AtmError('InvalidInput', 'the account lists too many device records', { did, max: MAX_DEVICES });
  }
  const set: ProvenDeviceSet = { did, devices: [], rejected: [] };
  const outcomes = await Promise.all(
    listed.map(async (r) => {
      try {
        parseDeviceUri(r.uri);
        const record = parseRecord(DEVICE, r.value, r.uri);
        const proven = await deps.as.verify(r.uri, record.signatureKey);
        return { device: { uri: proven.uri, signatureKey: proven.record.signatureKey, cid: proven.cid } };
      } catch (error) {
        if (isAtmError(error) && RECORD_FAILURES.includes(error.code))
          return { rejected: { uri: r.uri, code: error.code } };
        throw error;
      }
    }),
  );
  for (const o of outcomes) {
    if (o.device) set.devices.push(o.device);
    else set.rejected.push(o.rejected);
  }
  return set;
}

export interface SafetyNumberInfo {
  did: string;
  /** 12 groups of 5 digits. */
  groups: string[];
  qr: string;
  /** The contact's fingerprint (hex): what `verify` must be given back. */
  fingerprint: string;
  state: SafetyState;
  verifiedAt?: number;
  /** Proven devices of the contact, and listed records that failed their proof. */
  devices: number;
  rejected: number;
}

export interface ContactStateInfo {
  did: string;
  state: SafetyState;
  verifiedAt?: number;
}

export interface ContactSafetyDeps {
  myDid: string;
  publicRepos: PublicRepos;
  as: AuthenticationService;
  store: ContactVerificationStore;
  clock: Clock;
  /** How long a proven device set is reused by `state` (the member list asks often). */
  cacheMs?: number;
  /** A verified contact's state was found different from the last time it was looked at. */
  onStateChanged?(did: string, state: SafetyState): void;
}

export interface ContactSafety {
  /** The number to compare, from a fresh read of both device sets. */
  safetyNumber(did: string): Promise<SafetyNumberInfo>;
  /**
   * Marks `did` verified, only if `fingerprint` (what the user was shown) is still the current
   * one: a key change between showing and clicking is `SafetyNumberChanged`, never accepted.
   */
  verify(did: string, fingerprint: string): Promise<ContactStateInfo>;
  unverify(did: string): Promise<ContactStateInfo>;
  /** For the member list: contacts never verified cost no network at all. */
  state(did: string): Promise<ContactStateInfo>;
  /** The DID's repo changed (a firehose hint): re-read it, and report a verified contact's change. */
  repoChanged(did: string): Promise<void>;
}

export function createContactSafety(deps: ContactSafetyDeps): ContactSafety {
  const cacheMs = deps.cacheMs ?? 60_000;
  const cache = new Map<string, { set: Promise<ProvenDeviceSet>; at: number }>();
  const lastState = new Map<string, SafetyState>();

  function deviceSet(did: string, fresh: boolean): Promise<ProvenDeviceSet> {
    const hit = cache.get(did);
    if (!fresh && hit && deps.clock.now() - hit.at < cacheMs) return hit.set;
    const entry = { set: provenDeviceSet(deps, did), at: deps.clock.now() };
    cache.set(did, entry);
    // A failed read is not kept: the next question asks the network again.
    entry.set.catch(() => {
      if (cache.get(did) === entry) cache.delete(did);
    });
    return entry.set;
  }

  const fingerprintOf = (set: ProvenDeviceSet) => fingerprint(set.did, set.devices);

  function notOwn(did: string): void {
    if (did === deps.myDid) throw new AtmError('BadRequest', 'a safety number is between you and someone else');
  }

  function info(did: string, stored: ContactVerification | undefined, current: string): ContactStateInfo {
    const state = safetyState(stored, current);
    lastState.set(did, state);
    return { did, state, ...(state !== 'unverified' && stored ? { verifiedAt: stored.verifiedAt } : {}) };
  }

  async function state(did: string, fresh = false): Promise<ContactStateInfo> {
    notOwn(did);
    const stored = await deps.store.get(did);
    if (!stored) return { did, state: 'unverified' };
    return info(did, stored, toHex(fingerprintOf(await deviceSet(did, fresh))));
  }

  return {
    async safetyNumber(did) {
      notOwn(did);
      const [mine, theirs, stored] = await Promise.all([
        deviceSet(deps.myDid, true),
        deviceSet(did, true),
        deps.store.get(did),
      ]);
      const theirFingerprint = fingerprintOf(theirs);
      const number = safetyNumber(fingerprintOf(mine), theirFingerprint);
      const current = toHex(theirFingerprint);
      return {
        ...info(did, stored, current),
        groups: number.groups,
        qr: number.qr,
        fingerprint: current,
        devices: theirs.devices.length,
        rejected: theirs.rejected.length,
      };
    },
    async verify(did, shown) {
      notOwn(did);
      const set = await deviceSet(did, true);
      const current = toHex(fingerprintOf(set));
      if (current !== shown) {
        throw new AtmError('SafetyNumberChanged', "the contact's devices changed since the number was shown", { did });
      }
      if (set.devices.length === 0) {
        throw new AtmError('BadRequest', 'the account publishes no device: there is nothing to verify', { did });
      }
      const verification = { did, fingerprint: current, verifiedAt: deps.clock.now() };
      await deps.store.put(verification);
      return info(did, verification, current);
    },
    async unverify(did) {
      notOwn(did);
      await deps.store.delete(did);
      lastState.set(did, 'unverified');
      return { did, state: 'unverified' };
    },
    state: (did) => state(did),
    async repoChanged(did) {
      cache.delete(did);
      if (did === deps.myDid || !(await deps.store.get(did))) return;
      const before = lastState.get(did);
      const now = await state(did, true);
      if (now.state !== before) deps.onStateChanged?.(did, now.state);
    },
  };
}
