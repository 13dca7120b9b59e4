import { toHex } from '../bytes';
import { AtmError } from '../errors';
import {
  CIPHER_SUITE_ID,
  generateKeyPackage,
  KEY_PACKAGE_BACKDATE_MS,
  type MlsContext,
} from '../mls';
import { KEY_PACKAGE, KEY_PACKAGE_COLLECTION_NSID, parseRecord, recordJson, type KeyPackageRecord } from '../protocol/records';
import type { KeyPackageSecret, KeyPackageStore, LocalDevice, OwnRepo, PublicRepos } from './ports';

/** How many KeyPackages a device keeps published (docs/protocol.md §KeyPackages). */
export interface PoolPolicy {
  oneTime: number;
  lastResort: number;
  lifetimeMs: number;
  /** Packages this close to expiry are withdrawn and replaced. */
  renewBeforeMs: number;
  /** Private keys of withdrawn packages are kept this long past expiry for Welcomes in flight. */
  graceMs: number;
  /**
   * Private keys of a used one-time package are kept this long, for a second Welcome that picked
   * the same package concurrently (replays are refused by the Welcome log, §6.6).
   */
  consumedGraceMs: number;
}

export const DEFAULT_POOL_POLICY: PoolPolicy = {
  oneTime: 10,
  lastResort: 1,
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 7 * 24 * 3600_000,
  graceMs: 24 * 3600_000,
  consumedGraceMs: 3600_000,
};

export interface PoolDeps {
  repo: OwnRepo;
  publicRepos: PublicRepos;
  keyPackages: KeyPackageStore;
  device: LocalDevice;
  mls: MlsContext;
  newTid(): string;
  policy?: PoolPolicy;
}

export interface PoolReport {
  published: number;
  withdrawn: number;
  orphansDeleted: number;
  forgotten: number;
}


function recordFromSecret(device: LocalDevice, secret: KeyPackageSecret, createdAt: number): KeyPackageRecord {
  return KEY_PACKAGE.$build({
    keyPackage: secret.encoded,
    device: device.rkey,
    cipherSuite: CIPHER_SUITE_ID,
    createdAt: new Date(createdAt).toISOString() as KeyPackageRecord['createdAt'],
    expiresAt: new Date(secret.notAfter).toISOString() as KeyPackageRecord['expiresAt'],
    lastResort: secret.lastResort,
  });
}

function isLive(secret: KeyPackageSecret, now: number, policy: PoolPolicy): boolean {
  return secret.state === 'published' && secret.notAfter - now > policy.renewBeforeMs;
}

async function publishNew(deps: PoolDeps, lastResort: boolean): Promise<void> {
  const policy = deps.policy ?? DEFAULT_POOL_POLICY;
  const now = deps.mls.clock.now();
  const kp = await generateKeyPackage(deps.mls, {
    identity: deps.device.uri,
    signatureKeyPair: deps.device.signature,
    lifetime: { notBefore: now - KEY_PACKAGE_BACKDATE_MS, notAfter: now + policy.lifetimeMs },
    lastResort,
  });
  const secret: KeyPackageSecret = {
    ref: toHex(kp.reference),
    rkey: deps.newTid(),
    lastResort,
    notAfter: kp.lifetime.notAfter,
    encoded: kp.encoded,
    privateKeyPackage: kp.privateKeyPackage,
    state: 'pending',
  };
  // The private half is stored before the record exists, so a published package can always be
  // opened; a crash in between leaves an unpublished secret that the next run publishes.
  await deps.keyPackages.put(secret);
  await deps.repo.putRecord(
    KEY_PACKAGE_COLLECTION_NSID,
    secret.rkey,
    recordJson(KEY_PACKAGE, recordFromSecret(deps.device, secret, now)),
  );
  await deps.keyPackages.put({ ...secret, state: 'published' });
}

/**
 * Brings the device's published pool to policy: finishes interrupted publications, withdraws
 * packages close to expiry, deletes records of ours whose private half is gone (consumed, or
 * from a crashed run), forgets expired secrets, and publishes new packages up to the target.
 */
export async function replenishKeyPackages(deps: PoolDeps): Promise<PoolReport> {
  const policy = deps.policy ?? DEFAULT_POOL_POLICY;
  const now = deps.mls.clock.now();
  const report: PoolReport = { published: 0, withdrawn: 0, orphansDeleted: 0, forgotten: 0 };
  const secrets = await deps.keyPackages.list();
  const byRkey = new Map(secrets.map((s) => [s.rkey, s]));

  // Records of this device in the repo without a live secret behind them: withdraw.
  const maxListed = 500;
  const records = await deps.publicRepos.listRecords(deps.repo.did, KEY_PACKAGE_COLLECTION_NSID, { max: maxListed });
  // Only a complete listing can show that a record is missing.
  const complete = records.length < maxListed;
  const listed = new Set<string>();
  for (const record of records) {
    let parsed: KeyPackageRecord;
    try {
      parsed = parseRecord(KEY_PACKAGE, record.value, record.uri);
    } catch {
      // Unreadable to this version: it may be another device's (newer) record, so leave it.
      continue;
    }
    if (parsed.device !== deps.device.rkey) continue; // another device of this user
    listed.add(record.rkey);
    const secret = byRkey.get(record.rkey);
    if (!secret || secret.state === 'withdrawn') {
      await deps.repo.deleteRecord(KEY_PACKAGE_COLLECTION_NSID, record.rkey);
      report.orphansDeleted++;
    }
  }

  for (const secret of secrets) {
    const fresh = secret.notAfter - now > policy.renewBeforeMs;
    if (secret.state === 'published' && fresh && complete && !listed.has(secret.rkey)) {
      // Its record is gone (consumed while the answer was lost, or deleted elsewhere): it may
      // have been used, so withdraw it rather than publish it again; its keys stay for the grace
      // period so a Welcome in flight still opens.
      await deps.keyPackages.put({ ...secret, state: 'withdrawn' });
      report.withdrawn++;
    } else if (secret.state !== 'withdrawn' && !fresh) {
      await deps.repo.deleteRecord(KEY_PACKAGE_COLLECTION_NSID, secret.rkey);
      await deps.keyPackages.put({ ...secret, state: 'withdrawn' });
      report.withdrawn++;
    } else if (secret.state === 'pending') {
      // A publication that was interrupted: write the same record again (same rkey: idempotent).
      const record = recordFromSecret(deps.device, secret, now);
      await deps.repo.putRecord(KEY_PACKAGE_COLLECTION_NSID, secret.rkey, recordJson(KEY_PACKAGE, record));
      await deps.keyPackages.put({ ...secret, state: 'published' });
    }
    const consumedLongAgo = secret.consumedAt !== undefined && now - secret.consumedAt > policy.consumedGraceMs;
    if (consumedLongAgo || secret.notAfter + policy.graceMs < now) {
      await deps.keyPackages.delete(secret.ref);
      report.forgotten++;
    }
  }

  const live = (await deps.keyPackages.list()).filter((s) => isLive(s, now, policy));
  const missingOneTime = policy.oneTime - live.filter((s) => !s.lastResort).length;
  const missingLastResort = policy.lastResort - live.filter((s) => s.lastResort).length;
  for (let i = 0; i < missingOneTime; i++) {
    await publishNew(deps, false);
    report.published++;
  }
  for (let i = 0; i < missingLastResort; i++) {
    await publishNew(deps, true);
    report.published++;
  }
  return report;
}

/**
 * After a Welcome was accepted with this package: a one-time package is withdrawn from the repo
 * and its private keys deleted; a last-resort package stays published for the next use.
 */
export async function consumeKeyPackage(
  deps: Pick<PoolDeps, 'repo' | 'keyPackages'> & { now: number },
  ref: string,
): Promise<KeyPackageSecret> {
  const secret = await deps.keyPackages.get(ref);
  if (!secret) throw new AtmError('WelcomeNotForUs', 'no such key package on this device', { ref });
  if (secret.lastResort) return secret;
  // Marked used first: if the record's deletion fails, the pool's sweep deletes the record of a
  // withdrawn package, and forgets its keys after consumedGraceMs either way.
  await deps.keyPackages.put({ ...secret, state: 'withdrawn', consumedAt: secret.consumedAt ?? deps.now });
  if (secret.state !== 'withdrawn') {
    await deps.repo.deleteRecord(KEY_PACKAGE_COLLECTION_NSID, secret.rkey);
  }
  return secret;
}
