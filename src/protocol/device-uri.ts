import { AtmError } from '../errors';

/**
 * An MLS credential names its device by the AT-URI of the device record:
 * `at://<did>/org.atmessaging.device/<rkey>` (docs/protocol.md §Credentials). The rkey is a TID.
 */
export const DEVICE_COLLECTION = 'org.atmessaging.device';

const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
const DID = /^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9.-]+(%3A[0-9]{1,5})?)$/;

export interface DeviceRef {
  did: string;
  rkey: string;
}

export function isTid(value: unknown): value is string {
  return typeof value === 'string' && TID.test(value);
}

/** A DID of the forms a credential may name (§3): did:plc, or did:web with a bare host. */
export function isDid(value: unknown): value is string {
  return typeof value === 'string' && DID.test(value);
}

export function deviceUri({ did, rkey }: DeviceRef): string {
  if (!DID.test(did) || !TID.test(rkey)) {
    throw new AtmError('InvalidCredential', 'not a device reference', { did, rkey });
  }
  return `at://${did}/${DEVICE_COLLECTION}/${rkey}`;
}

/** The DID a device credential names; '' for anything that is not a device record URI. */
export function didOfIdentity(identity: string): string {
  try {
    return parseDeviceUri(identity).did;
  } catch {
    return '';
  }
}

/** Parses a credential identity; anything but the exact canonical form is refused. */
export function parseDeviceUri(identity: string | Uint8Array): DeviceRef {
  let text: string;
  try {
    text = typeof identity === 'string' ? identity : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(identity);
  } catch {
    throw new AtmError('InvalidCredential', 'credential identity is not UTF-8');
  }
  const prefix = 'at://';
  const parts = text.startsWith(prefix) ? text.slice(prefix.length).split('/') : [];
  const [did, collection, rkey] = parts;
  if (parts.length !== 3 || collection !== DEVICE_COLLECTION || !DID.test(did ?? '') || !TID.test(rkey ?? '')) {
    throw new AtmError('InvalidCredential', 'credential identity is not a device record URI', {
      length: text.length,
    });
  }
  return { did: did!, rkey: rkey! };
}
