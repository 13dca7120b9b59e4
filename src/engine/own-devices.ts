import { AtmError } from '../errors';
import { DEVICE, DEVICE_COLLECTION_NSID, KEY_PACKAGE, KEY_PACKAGE_COLLECTION_NSID, parseRecord } from '../protocol/records';
import type { OwnRepo, PublicRepos, RepoRecord } from './ports';

/**
 * The user's own devices, as their repo lists them (docs/protocol.md §Devices): what the
 * options page shows, and revoking one of them from another. A device record's existence is the
 * account vouching for its keys, so deleting it is the revocation: the Authentication Service of
 * every member stops accepting the device, and nobody adds it to a group again. Its published
 * key packages go with it, so nobody picks one up in the meantime.
 */

export interface OwnDevice {
  /** Record key of the device record: the device id. */
  rkey: string;
  /** `at://<did>/org.atmessaging.device/<rkey>`: the MLS credential identity. */
  uri: string;
  /** The device's optional label (public, chosen by the device). */
  name?: string;
  createdAt?: string;
  /** This browser profile. */
  thisDevice: boolean;
  /** False when the record does not match our lexicon (a newer version, or junk): revocable all the same. */
  readable: boolean;
  /** Key packages of this device published in the repo. */
  keyPackages: number;
}

export interface OwnDevicesDeps {
  /** Reads the repo (the user's PDS, as anyone reads it). */
  publicRepos: PublicRepos;
  did: string;
  /** rkey of this browser profile's device record. */
  thisDevice: string;
}

/** As many records as a repo can hold for us without the listing going on for ever. */
const MAX_LISTED = 1000;

/** `device` field of each key-package record that parses; others cannot be attributed. */
function keyPackagesByDevice(records: RepoRecord[]): Map<string, string[]> {
  const byDevice = new Map<string, string[]>();
  for (const record of records) {
    let device: string;
    try {
      device = parseRecord(KEY_PACKAGE, record.value, record.uri).device;
    } catch {
      continue;
    }
    byDevice.set(device, [...(byDevice.get(device) ?? []), record.rkey]);
  }
  return byDevice;
}

/** This account's device records, oldest first, with this browser profile marked. */
export async function listOwnDevices(deps: OwnDevicesDeps): Promise<OwnDevice[]> {
  const [devices, packages] = await Promise.all([
    deps.publicRepos.listRecords(deps.did, DEVICE_COLLECTION_NSID, { max: MAX_LISTED }),
    deps.publicRepos.listRecords(deps.did, KEY_PACKAGE_COLLECTION_NSID, { max: MAX_LISTED }),
  ]);
  const byDevice = keyPackagesByDevice(packages);
  const out: OwnDevice[] = devices.map((record) => {
    const base = {
      rkey: record.rkey,
      uri: record.uri,
      thisDevice: record.rkey === deps.thisDevice,
      keyPackages: byDevice.get(record.rkey)?.length ?? 0,
    };
    try {
      const parsed = parseRecord(DEVICE, record.value, record.uri);
      return { ...base, readable: true, createdAt: parsed.createdAt, ...(parsed.name ? { name: parsed.name } : {}) };
    } catch {
      return { ...base, readable: false };
    }
  });
  // Device rkeys are TIDs: their order is the order the devices were added.
  return out.sort((a, b) => (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0));
}

export interface RevokeReport {
  rkey: string;
  keyPackagesDeleted: number;
}

/**
 * Revokes another device of this account: deletes its key-package records, then its device
 * record. In that order, so a revocation cut short leaves the device listed and the user can
 * simply revoke it again (every deletion is idempotent). This device itself is refused: signing
 * out is what removes it, because that also wipes its keys.
 */
export async function revokeOwnDevice(deps: OwnDevicesDeps & { repo: OwnRepo }, rkey: string): Promise<RevokeReport> {
  if (deps.repo.did !== deps.did) {
    throw new AtmError('InvalidInput', 'the repo written is not the account listed', { did: deps.did });
  }
  if (rkey === deps.thisDevice) {
    throw new AtmError('ThisDevice', 'this is the device in use: sign out to remove it', { rkey });
  }
  const [devices, packages] = await Promise.all([
    deps.publicRepos.listRecords(deps.did, DEVICE_COLLECTION_NSID, { max: MAX_LISTED }),
    deps.publicRepos.listRecords(deps.did, KEY_PACKAGE_COLLECTION_NSID, { max: MAX_LISTED }),
  ]);
  const own = keyPackagesByDevice(packages).get(rkey) ?? [];
  if (!devices.some((d) => d.rkey === rkey) && own.length === 0) {
    throw new AtmError('UnknownDevice', 'no such device in this account', { rkey });
  }
  for (const packageRkey of own) await deps.repo.deleteRecord(KEY_PACKAGE_COLLECTION_NSID, packageRkey);
  await deps.repo.deleteRecord(DEVICE_COLLECTION_NSID, rkey);
  return { rkey, keyPackagesDeleted: own.length };
}
