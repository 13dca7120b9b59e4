import type { CredentialBasic } from 'ts-mls';
import { MlsLayerError } from './errors';
import type { MlsSuite } from './suite';
import {
  DEVICE_COLLECTION,
  deviceUri as protocolDeviceUri,
  parseDeviceUri as parseStrictDeviceUri,
  type DeviceRef,
} from '../protocol/device-uri';

/**
 * A device's credential (RFC 9420 §5.3): a basic credential whose identity is the UTF-8 AT-URI of
 * the device record, `at://<did>/org.atmessaging.device/<rkey>`. The Authentication Service
 * trusts it when that record exists in the DID's repo with the leaf's signature key.
 */
export { DEVICE_COLLECTION };
export type DeviceIdentity = DeviceRef;

/** A device's MLS signature key pair: raw Ed25519 public key, PKCS#8 private key. */
export interface SignatureKeyPair {
  publicKey: Uint8Array;
  signKey: Uint8Array;
}

export function generateSignatureKeyPair(suite: MlsSuite): Promise<SignatureKeyPair> {
  return suite.signatures.keygen();
}

/** The canonical credential identity of a device (the strict rules of src/protocol/device-uri). */
export function deviceUri(device: DeviceIdentity): string {
  try {
    return protocolDeviceUri(device);
  } catch {
    throw new MlsLayerError('InvalidInput', 'not a device reference', {
      did: device.did.slice(0, 100),
      rkey: device.rkey.slice(0, 100),
    });
  }
}

/** The device a credential identity names, or undefined when it is not a device record AT-URI. */
export function parseDeviceUri(uri: string): DeviceIdentity | undefined {
  try {
    return parseStrictDeviceUri(uri);
  } catch {
    return undefined;
  }
}

export function deviceCredential(identity: string): CredentialBasic {
  if (parseDeviceUri(identity) === undefined) {
    throw new MlsLayerError('InvalidInput', 'credential identity must be a device record AT-URI', {
      identity: identity.slice(0, 200),
    });
  }
  return { credentialType: 'basic', identity: new TextEncoder().encode(identity) };
}

/**
 * The device AT-URI a credential carries, or undefined for anything else (x509, custom types,
 * invalid UTF-8, other URIs). Protocol v1 admits nothing else into a group.
 */
export function credentialIdentity(credential: { credentialType: unknown; identity?: unknown }): string | undefined {
  if (credential.credentialType !== 'basic' || !(credential.identity instanceof Uint8Array)) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(credential.identity);
  } catch {
    return undefined;
  }
  return parseDeviceUri(text) === undefined ? undefined : text;
}
