import { AtpAgent } from '@atproto/api';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { listOwnDevices, revokeOwnDevice } from '../../src/engine/own-devices';
import { DEFAULT_POOL_POLICY } from '../../src/engine/key-package-pool';
import { isAtmError, type AtmErrorCode } from '../../src/errors';
import { DEVICE_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID } from '../../src/protocol/records';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { shell, startDevice, type TestDevice } from './device-harness';

// The options page's device list and revoke button, through the use case, against the real PDS:
// one account with two browser profiles (devices); the first revokes the second.

const net = attachNetwork(inject('network'));
const POOL = DEFAULT_POOL_POLICY.oneTime + DEFAULT_POOL_POLICY.lastResort;

async function failure(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

/** Straight from the PDS, not through the code under test. */
async function records(did: string, collection: string): Promise<Array<{ uri: string; value: unknown }>> {
  const { data } = await new AtpAgent({ service: net.pdsUrl }).com.atproto.repo.listRecords({ repo: did, collection, limit: 100 });
  return data.records;
}

const packagesOf = async (did: string, rkey: string) =>
  (await records(did, KEY_PACKAGE_COLLECTION_NSID)).filter((r) => (r.value as { device?: string }).device === rkey);

let account: Account;
let laptop: TestDevice;
let phone: TestDevice;

beforeAll(async () => {
  account = await net.createAccount(uniqueName('dana'));
  const agent = await resumeCreationSession(net.pdsUrl, account);
  [laptop, phone] = (await Promise.all([
    startDevice('laptop', agent, account.did, net.plcUrl),
    startDevice('phone', agent, account.did, net.plcUrl),
  ])) as [TestDevice, TestDevice];
});

const on = (device: TestDevice) => ({ publicRepos: device.publicRepos, did: account.did, thisDevice: device.device.rkey, repo: device.repo });

describe('own devices', () => {
  it('lists both devices of the account from its repo, this one marked, with their key packages', async () => {
    const listed = await listOwnDevices(on(laptop));
    expect(listed).toEqual(
      [laptop, phone]
        .map((d) => ({
          rkey: d.device.rkey,
          uri: d.device.uri,
          createdAt: d.device.createdAt,
          thisDevice: d === laptop,
          readable: true,
          keyPackages: POOL,
        }))
        .sort((a, b) => (a.rkey < b.rkey ? -1 : 1)),
    );
  });

  it('refuses to revoke the device in use, and a device the account does not have, writing nothing', async () => {
    expect(await failure(revokeOwnDevice(on(laptop), laptop.device.rkey))).toBe('ThisDevice');
    expect(await failure(revokeOwnDevice(on(laptop), '3jzfcijpj2z2a'))).toBe('UnknownDevice');
    expect(await records(account.did, DEVICE_COLLECTION_NSID)).toHaveLength(2);
    expect(await packagesOf(account.did, laptop.device.rkey)).toHaveLength(POOL);
  });

  it("revokes the other device: its record and key packages are gone, this device's are intact", async () => {
    // Before: the phone's credential is proven by its record.
    await expect(shell(net.plcUrl).as.verify(phone.device.uri, phone.device.signature.publicKey)).resolves.toBeDefined();

    const report = await revokeOwnDevice(on(laptop), phone.device.rkey);
    expect(report).toEqual({ rkey: phone.device.rkey, keyPackagesDeleted: POOL });

    expect((await records(account.did, DEVICE_COLLECTION_NSID)).map((r) => r.uri)).toEqual([laptop.device.uri]);
    expect(await packagesOf(account.did, phone.device.rkey)).toEqual([]);
    expect(await packagesOf(account.did, laptop.device.rkey)).toHaveLength(POOL);
    expect((await listOwnDevices(on(laptop))).map((d) => [d.rkey, d.thisDevice])).toEqual([[laptop.device.rkey, true]]);
    // A fresh Authentication Service (no cache) no longer accepts the revoked device; the other stands.
    const fresh = shell(net.plcUrl).as;
    expect(await failure(fresh.verify(phone.device.uri, phone.device.signature.publicKey))).toBe('UnknownDevice');
    await expect(fresh.verify(laptop.device.uri, laptop.device.signature.publicKey)).resolves.toBeDefined();

    // Revoked once is revoked: a second try finds nothing to revoke.
    expect(await failure(revokeOwnDevice(on(laptop), phone.device.rkey))).toBe('UnknownDevice');
  });
});
