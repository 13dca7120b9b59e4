import { AtmError, isAtmError, type AtmErrorCode } from '../errors';
import {
  credentialIdentity,
  decodeKeyPackageMessage,
  deviceUri,
  validateKeyPackage,
  type KeyPackage,
  type MlsContext,
} from '../mls';
import { isTid } from '../protocol/device-uri';
import {
  DEVICE,
  DEVICE_COLLECTION_NSID,
  KEY_PACKAGE,
  KEY_PACKAGE_COLLECTION_NSID,
  parseRecord,
  type KeyPackageRecord,
} from '../protocol/records';
import type { PublicRepos } from './ports';

function shuffled<T>(items: T[]): T[] {
  const out = items.slice();
  const random = crypto.getRandomValues(new Uint32Array(out.length));
  for (let i = out.length - 1; i > 0; i--) {
    const j = random[i]! % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export interface DeviceKeyPackage {
  did: string;
  /** Device record key. */
  device: string;
  /** rkey of the keyPackage record it came from. */
  rkey: string;
  lastResort: boolean;
  keyPackage: KeyPackage;
}

export interface SkippedRecord {
  uri: string;
  code: AtmErrorCode | 'Unknown';
}

export interface DirectoryResult {
  keyPackages: DeviceKeyPackage[];
  /** Devices of the DID for which no usable KeyPackage was found. */
  devicesWithout: string[];
  /** Records that were present but refused, with why (shown to the user, never silently used). */
  skipped: SkippedRecord[];
}

/**
 * Finds one usable KeyPackage for each device a DID publishes: the record validates against
 * its lexicon, the package decodes strictly, names the device record it is filed under, is
 * within its lifetime, and its credential passes the Authentication Service (CAR-verified
 * device record with the same signature key). One-time packages are preferred; a device's
 * last-resort package is used only when it has no other. `exclude` skips devices (e.g. our own).
 */
export async function findKeyPackages(
  deps: { publicRepos: PublicRepos; mls: MlsContext },
  did: string,
  options: { excludeDevices?: ReadonlySet<string> } = {},
): Promise<DirectoryResult> {
  const skipped: SkippedRecord[] = [];
  const codeOf = (error: unknown) => (isAtmError(error) ? error.code : 'Unknown');

  const devices = new Set<string>();
  for (const record of await deps.publicRepos.listRecords(did, DEVICE_COLLECTION_NSID, { max: 100 })) {
    try {
      parseRecord(DEVICE, record.value, record.uri);
      if (!isTid(record.rkey)) throw new AtmError('InvalidRecord', 'device record key is not a TID');
      if (!options.excludeDevices?.has(record.rkey)) devices.add(record.rkey);
    } catch (error) {
      skipped.push({ uri: record.uri, code: codeOf(error) });
    }
  }

  const candidates = new Map<string, Array<{ rkey: string; uri: string; record: KeyPackageRecord }>>();
  for (const record of await deps.publicRepos.listRecords(did, KEY_PACKAGE_COLLECTION_NSID, { max: 1000 })) {
    let parsed: KeyPackageRecord;
    try {
      parsed = parseRecord(KEY_PACKAGE, record.value, record.uri);
    } catch (error) {
      skipped.push({ uri: record.uri, code: codeOf(error) });
      continue;
    }
    if (!devices.has(parsed.device)) continue;
    const list = candidates.get(parsed.device) ?? [];
    list.push({ rkey: record.rkey, uri: record.uri, record: parsed });
    candidates.set(parsed.device, list);
  }

  const keyPackages: DeviceKeyPackage[] = [];
  const devicesWithout: string[] = [];
  for (const device of devices) {
    // One-time packages first, in random order: two members adding the same device at once then
    // rarely pick the same package (and if they do, its keys outlive its first use briefly).
    // The last-resort package only when no one-time package is usable.
    const all = candidates.get(device) ?? [];
    const ordered = [...shuffled(all.filter((c) => !c.record.lastResort)), ...all.filter((c) => c.record.lastResort)];
    let chosen: DeviceKeyPackage | undefined;
    for (const candidate of ordered) {
      try {
        const keyPackage = decodeKeyPackageMessage(candidate.record.keyPackage);
        // Cheap checks first: a package filed under the wrong device never costs a proof fetch.
        if (credentialIdentity(keyPackage.leafNode.credential) !== deviceUri({ did, rkey: device })) {
          skipped.push({ uri: candidate.uri, code: 'InvalidCredential' });
          continue;
        }
        await validateKeyPackage(deps.mls, keyPackage);
        chosen = { did, device, rkey: candidate.rkey, lastResort: candidate.record.lastResort, keyPackage };
        break;
      } catch (error) {
        // A network failure while checking is not the package's fault: let the caller retry.
        if (isAtmError(error, 'Network')) throw error;
        skipped.push({ uri: candidate.uri, code: codeOf(error) });
      }
    }
    if (chosen) keyPackages.push(chosen);
    else devicesWithout.push(device);
  }
  return { keyPackages, devicesWithout, skipped };
}
