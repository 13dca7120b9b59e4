/**
 * Credentials for a mixed group, and the test Authentication Service that trusts them.
 *
 * Every member, of either implementation, has our credential: a basic credential whose identity
 * is the UTF-8 device record AT-URI (src/mls/credential.ts). core-crypto 9.3.4 takes any byte
 * string as a ClientId and makes it the identity of its basic credential, so an OpenMLS member's
 * ClientId is its AT-URI, and what it reports as a member or a sender is that AT-URI again.
 *
 * The AS is our MlsContext's `auth` (src/mls asks it through its own adapter, which refuses
 * anything but a device AT-URI before asking): a registry of identity -> signature key, filled
 * for both sides' members as they are created. OpenMLS has no AS for basic credentials.
 */
import { deviceUri, parseDeviceUri, type AuthenticationService } from '../../../../src/mls';
import { hex } from '../helpers';

export type Implementation = 'ours' | 'openmls';

export interface InteropIdentity {
  /** The device record AT-URI: the credential identity (and an OpenMLS member's ClientId), as UTF-8. */
  identity: string;
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
  return { identity: deviceUri({ did: `did:plc:${base32(n, 24)}`, rkey: `${TID_FIRST[n % 16]}${base32(n, 12)}` }) };
}

/**
 * The test AS: identity -> signature public key. It records every refusal, so a failing run can
 * say whom it refused.
 */
export class InteropRegistry {
  private readonly keys = new Map<string, string>();
  readonly refused: string[] = [];

  register(identity: string, signaturePublicKey: Uint8Array): void {
    if (parseDeviceUri(identity) === undefined) throw new Error(`registry: ${identity} is not a device AT-URI`);
    this.keys.set(identity, hex(signaturePublicKey));
  }

  /** For MlsContext.auth. */
  readonly auth: AuthenticationService = async (identity, signaturePublicKey) => {
    const trusted = parseDeviceUri(identity) !== undefined && this.keys.get(identity) === hex(signaturePublicKey);
    if (!trusted) this.refused.push(identity);
    return trusted;
  };
}
