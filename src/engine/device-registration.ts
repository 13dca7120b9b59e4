import { AtmError } from '../errors';
import { CIPHER_SUITE_ID, deviceUri, generateSignatureKeyPair, type MlsSuite } from '../mls';
import { DEVICE, DEVICE_COLLECTION_NSID, recordJson, type DeviceRecord } from '../protocol/records';
import type { Clock, DeviceStore, LocalDevice, OwnRepo } from './ports';

export interface DeviceRegistrationDeps {
  repo: OwnRepo;
  devices: DeviceStore;
  suite: MlsSuite;
  clock: Clock;
  newTid(): string;
  subtle?: SubtleCrypto;
}

async function generateInviteKey(subtle: SubtleCrypto): Promise<LocalDevice['invite']> {
  // Non-extractable: the private key can be used for HPKE key agreement but never read out.
  const pair = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { publicKey, privateKey: pair.privateKey };
}

export function deviceRecordOf(device: LocalDevice, name?: string) {
  return DEVICE.$build({
    signatureKey: device.signature.publicKey,
    inviteKey: device.invite.publicKey,
    cipherSuites: [CIPHER_SUITE_ID],
    // Written by us from Date#toISOString, so a valid lexicon datetime.
    createdAt: device.createdAt as DeviceRecord['createdAt'],
    ...(name ? { name } : {}),
  });
}

/**
 * Makes sure this browser profile is a published device of the signed-in DID. Keys are created
 * and saved locally first, then the record is written under an rkey chosen beforehand, so a
 * crash or network error at any point is finished by the next call without a second device.
 */
export async function ensureDevice(deps: DeviceRegistrationDeps, options: { name?: string } = {}): Promise<LocalDevice> {
  let device = await deps.devices.load();
  if (device && device.did !== deps.repo.did) {
    throw new AtmError('InvalidInput', 'this browser profile is registered to another account; sign out first', {
      did: deps.repo.did,
    });
  }
  if (!device) {
    const rkey = deps.newTid();
    device = {
      did: deps.repo.did,
      rkey,
      uri: deviceUri({ did: deps.repo.did, rkey }),
      signature: await generateSignatureKeyPair(deps.suite),
      invite: await generateInviteKey(deps.subtle ?? globalThis.crypto.subtle),
      createdAt: new Date(deps.clock.now()).toISOString(),
      published: false,
    };
    await deps.devices.save(device);
  }
  if (!device.published) {
    await deps.repo.putRecord(DEVICE_COLLECTION_NSID, device.rkey, recordJson(DEVICE, deviceRecordOf(device, options.name)));
    device = { ...device, published: true };
    await deps.devices.save(device);
  }
  return device;
}
