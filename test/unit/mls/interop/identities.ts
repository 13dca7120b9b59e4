/**
 * Credentials for a mixed group, and the test Authentication Service that trusts them.
 *
 * Our credential identity is the device record AT-URI (src/mls/credential.ts). core-crypto 10.3.0
 * cannot carry that: a basic credential's identity is its ClientId, which is only built as
 * `<uuid>:<device id in hex>@<domain>`, and OpenMLS members parse every sender's identity back
 * into that form (an application message from any other identity fails to decrypt there). The
 * closest fit is the device AT-URI as the ClientId's domain, which is a free string:
 *
 *   00000000-0000-4000-8000-00000000002a:2a@at://did:plc:…/org.atmessaging.device/3k…
 *
 * Every member of both implementations gets such an identity; the AS below accepts only that
 * shape with a device AT-URI (checked by our parseDeviceUri) whose registered signature key
 * matches, and refuses everything else.
 */
import { deviceUri, parseDeviceUri } from '../../../../src/mls';
import { hex } from '../helpers';

export type Implementation = 'ours' | 'openmls';

export interface InteropIdentity {
  /** The credential identity both implementations put in the leaf (UTF-8 of this string). */
  identity: string;
  /** The device record AT-URI inside it. */
  device: string;
  /** ClientId parts, for core-crypto. */
  uuid: string;
  deviceId: bigint;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const TID_FIRST = '234567abcdefghij';

function base32(n: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++, n = Math.floor(n / 32)) out = BASE32[n % 32]! + out;
  return out;
}

/** Member number n (1, 2, …) of a run: a did:plc and a TID rkey derived from n, so runs are reproducible. */
export function interopIdentity(n: number): InteropIdentity {
  const device = deviceUri({ did: `did:plc:${base32(n, 24)}`, rkey: `${TID_FIRST[n % 16]}${base32(n, 12)}` });
  const uuid = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  const deviceId = BigInt(n);
  return { identity: `${uuid}:${deviceId.toString(16)}@${device}`, device, uuid, deviceId };
}

const WIRE_CLIENT_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([0-9a-f]{1,16})@(.+)$/;

/** The device AT-URI inside a credential identity of the shape above, or undefined. */
export function deviceOf(identity: Uint8Array | string): string | undefined {
  let text: string;
  try {
    text = typeof identity === 'string' ? identity : new TextDecoder('utf-8', { fatal: true }).decode(identity);
  } catch {
    return undefined;
  }
  const device = WIRE_CLIENT_ID.exec(text)?.[3];
  return device !== undefined && parseDeviceUri(device) !== undefined ? device : undefined;
}

/**
 * The test AS: identity -> signature public key, filled by the harness for both implementations'
 * members as they are created. It records every refusal, so a failing run can say whom it refused.
 */
export class InteropRegistry {
  private readonly keys = new Map<string, string>();
  readonly refused: string[] = [];

  register(identity: string, signaturePublicKey: Uint8Array): void {
    if (deviceOf(identity) === undefined) throw new Error(`registry: ${identity} is not a device identity`);
    this.keys.set(identity, hex(signaturePublicKey));
  }

  trusts(identity: Uint8Array | string, signaturePublicKey: Uint8Array): boolean {
    const text = typeof identity === 'string' ? identity : new TextDecoder().decode(identity);
    const trusted = deviceOf(identity) !== undefined && this.keys.get(text) === hex(signaturePublicKey);
    if (!trusted) this.refused.push(text);
    return trusted;
  }
}
