import { describe, expect, it } from 'vitest';
import { listOwnDevices, revokeOwnDevice } from '../../../src/engine/own-devices';
import { isAtmError, type AtmErrorCode } from '../../../src/errors';
import {
  DEVICE,
  DEVICE_COLLECTION_NSID as DEV,
  KEY_PACKAGE,
  KEY_PACKAGE_COLLECTION_NSID as KP,
  recordJson,
  type DeviceRecord,
  type KeyPackageRecord,
} from '../../../src/protocol/records';
import { MemoryRepo, tidSequence } from './memory-repo';

// The use case over an in-memory repo: order of deletions, partial failures, junk records. The
// same against the real PDS (with real devices and key packages) is in
// test/integration/own-devices.test.ts.

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const AT = '2025-01-01T00:00:00.000Z';

function deviceJson(name?: string) {
  return recordJson(
    DEVICE,
    DEVICE.$build({
      signatureKey: new Uint8Array(32).fill(1),
      inviteKey: new Uint8Array(32).fill(2),
      cipherSuites: [1],
      createdAt: AT as DeviceRecord['createdAt'],
      ...(name ? { name } : {}),
    }),
  );
}

function keyPackageJson(device: string) {
  return recordJson(
    KEY_PACKAGE,
    KEY_PACKAGE.$build({
      keyPackage: new Uint8Array([0, 1, 0, 5]),
      device,
      cipherSuite: 1,
      createdAt: AT as KeyPackageRecord['createdAt'],
      expiresAt: AT as KeyPackageRecord['expiresAt'],
      lastResort: false,
    }),
  );
}

/** This device (`mine`) and another (`other`), each with key packages, plus a junk device record. */
function world() {
  const repo = new MemoryRepo(DID);
  const tids = tidSequence('3la');
  const [mine, other, junk] = [tids.next(), tids.next(), tids.next()] as [string, string, string];
  repo.seed(DEV, mine, deviceJson());
  repo.seed(DEV, other, deviceJson('Work laptop'));
  repo.seed(DEV, junk, { $type: DEV, nonsense: true });
  for (let i = 0; i < 2; i++) repo.seed(KP, tids.next(), keyPackageJson(mine));
  for (let i = 0; i < 3; i++) repo.seed(KP, tids.next(), keyPackageJson(other));
  // Unattributable: left alone by every revocation.
  repo.seed(KP, tids.next(), { $type: KP, device: 42 });
  const deps = { repo, publicRepos: repo, did: DID, thisDevice: mine };
  return { repo, mine, other, junk, deps };
}

async function failure(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

/** Key-package records naming `device`, read back from the repo. */
async function packagesOf(repo: MemoryRepo, device: string): Promise<number> {
  return (await repo.listRecords(DID, KP)).filter((r) => (r.value as { device?: unknown }).device === device).length;
}

describe('own devices', () => {
  it('lists every device record oldest first, this one marked, unreadable ones flagged, with key-package counts', async () => {
    const { mine, other, junk, deps } = world();
    expect(await listOwnDevices(deps)).toEqual([
      { rkey: mine, uri: `at://${DID}/${DEV}/${mine}`, createdAt: AT, thisDevice: true, readable: true, keyPackages: 2 },
      {
        rkey: other,
        uri: `at://${DID}/${DEV}/${other}`,
        name: 'Work laptop',
        createdAt: AT,
        thisDevice: false,
        readable: true,
        keyPackages: 3,
      },
      { rkey: junk, uri: `at://${DID}/${DEV}/${junk}`, thisDevice: false, readable: false, keyPackages: 0 },
    ]);
  });

  it('revokes another device: its key packages first, then its record; nothing else is touched', async () => {
    const { repo, mine, other, deps } = world();
    expect(await revokeOwnDevice(deps, other)).toEqual({ rkey: other, keyPackagesDeleted: 3 });
    expect(repo.writes.map((w) => `${w.op} ${w.collection === KP ? 'kp' : 'device'} ${w.landed}`)).toEqual([
      'delete kp true',
      'delete kp true',
      'delete kp true',
      'delete device true',
    ]);
    expect(repo.get(DEV, other)).toBeUndefined();
    expect(repo.get(DEV, mine)).toBeDefined();
    expect(await packagesOf(repo, mine)).toBe(2);
    expect(repo.size(KP)).toBe(3); // mine (2) and the unattributable one
    expect((await listOwnDevices(deps)).map((d) => d.rkey)).not.toContain(other);
  });

  it('revokes an unreadable device record too', async () => {
    const { repo, junk, deps } = world();
    expect(await revokeOwnDevice(deps, junk)).toEqual({ rkey: junk, keyPackagesDeleted: 0 });
    expect(repo.get(DEV, junk)).toBeUndefined();
  });

  it('refuses this device (sign out instead) and unknown devices without writing', async () => {
    const { repo, mine, deps } = world();
    expect(await failure(revokeOwnDevice(deps, mine))).toBe('ThisDevice');
    expect(await failure(revokeOwnDevice(deps, '3lzzzzzzzzzzz'))).toBe('UnknownDevice');
    expect(await failure(revokeOwnDevice({ ...deps, repo: new MemoryRepo('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa') }, mine))).toBe(
      'InvalidInput',
    );
    expect(repo.writes).toEqual([]);
  });

  it('can be revoked again after a failure part-way: the device stays listed until its record is gone', async () => {
    const { repo, other, deps } = world();
    repo.failOnce('delete', 2);
    expect(await failure(revokeOwnDevice(deps, other))).toBe('Network');
    expect((await listOwnDevices(deps)).find((d) => d.rkey === other)).toMatchObject({ keyPackages: 2 });
    expect(await revokeOwnDevice(deps, other)).toEqual({ rkey: other, keyPackagesDeleted: 2 });
    expect(repo.get(DEV, other)).toBeUndefined();
    expect(await packagesOf(repo, other)).toBe(0);
  });
});
