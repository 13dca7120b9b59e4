import { bytesEqual, toHex } from '../bytes';
import { AtmError } from '../errors';
import { parseDeviceUri, DEVICE_COLLECTION, type DeviceRef } from '../protocol/device-uri';
import { DEVICE, parseRecord, type DeviceRecord } from '../protocol/records';
import type { Clock, RecordProver } from './ports';

export interface VerifiedDevice extends DeviceRef {
  uri: string;
  record: DeviceRecord;
  /** CID of the device record version that was proven. */
  cid: string;
}

export interface AuthenticationService {
  /**
   * Accepts an MLS leaf only if its credential names a device record that the DID's repo
   * provably contains (signed commit, verified CAR) and whose `signatureKey` equals the leaf's.
   * Throws `InvalidCredential`, `UnknownDevice`, `KeyMismatch`, `InvalidRecord`, `ProofInvalid`,
   * or a network/identity error (then nothing is decided and the caller may retry later).
   * `fresh`: prove it now, whatever is cached (a commit or an Add, §4): a device revoked since
   * the last proof must not change the group's keys on the strength of a cached answer.
   */
  verify(identity: string | Uint8Array, signaturePublicKey: Uint8Array, options?: VerifyOptions): Promise<VerifiedDevice>;
  /** Drops cached results for a DID (e.g. after a firehose event touched its device records). */
  forget(did: string): void;
}



export interface VerifyOptions {
  fresh?: boolean;
}

/**
 * The Authentication Service of docs/protocol.md. Positive results are cached for `ttlMs`;
 * failures are never cached, so a fixed network or a re-published record is seen at once.
 * A fresh proof neither reads the cache nor joins a proof already under way.
 */
export function createAuthenticationService(deps: {
  prover: RecordProver;
  clock: Clock;
  ttlMs?: number;
}): AuthenticationService {
  const ttlMs = deps.ttlMs ?? 10 * 60_000;
  const cache = new Map<string, { device: VerifiedDevice; expiresAt: number }>();
  const inFlight = new Map<string, Promise<VerifiedDevice>>();
  // Bumped by forget(did): a proof fetched before the bump must not be cached after it.
  const generations = new Map<string, number>();

  async function check(ref: DeviceRef, uri: string, key: Uint8Array): Promise<VerifiedDevice> {
    const proven = await deps.prover.proveRecord(ref.did, DEVICE_COLLECTION, ref.rkey);
    if (!proven) throw new AtmError('UnknownDevice', 'no such device record in the repo', { uri });
    const record = parseRecord(DEVICE, proven.json, uri);
    if (!bytesEqual(record.signatureKey, key)) {
      throw new AtmError('KeyMismatch', 'leaf signature key differs from the device record', { uri });
    }
    return { ...ref, uri, record, cid: proven.cid };
  }

  return {
    async verify(identity, signaturePublicKey, options = {}) {
      const ref = parseDeviceUri(identity);
      const uri = `at://${ref.did}/${DEVICE_COLLECTION}/${ref.rkey}`;
      const cacheKey = `${uri}|${toHex(signaturePublicKey)}`;
      const now = deps.clock.now();
      const hit = cache.get(cacheKey);
      if (hit && hit.expiresAt > now && !options.fresh) return hit.device;
      for (const [key, entry] of cache) if (entry.expiresAt <= now) cache.delete(key);
      const generation = generations.get(ref.did) ?? 0;
      let pending = options.fresh ? undefined : inFlight.get(cacheKey);
      if (options.fresh) {
        // A failed fresh proof also drops the cached answer it overrode.
        pending = check(ref, uri, signaturePublicKey).catch((error: unknown) => {
          cache.delete(cacheKey);
          throw error;
        });
      } else if (!pending) {
        pending = check(ref, uri, signaturePublicKey).finally(() => inFlight.delete(cacheKey));
        inFlight.set(cacheKey, pending);
      }
      const device = await pending;
      if ((generations.get(ref.did) ?? 0) === generation) {
        cache.set(cacheKey, { device, expiresAt: deps.clock.now() + ttlMs });
      }
      return device;
    },
    forget(did) {
      generations.set(did, (generations.get(did) ?? 0) + 1);
      for (const key of cache.keys()) {
        if (key.startsWith(`at://${did}/`)) cache.delete(key);
      }
      for (const key of inFlight.keys()) {
        if (key.startsWith(`at://${did}/`)) inFlight.delete(key);
      }
    },
  };
}
