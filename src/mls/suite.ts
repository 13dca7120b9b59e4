import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName } from 'ts-mls';
import { createSignatureProvider, type SignatureProvider } from './signatureProvider';

/** The only cipher suite protocol v1 speaks (RFC 9420 §17.1, value 0x0001). */
export const CIPHER_SUITE_NAME: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
export const CIPHER_SUITE_ID = 1;

/** ts-mls's implementation of suite 1 with our caching signature provider in place of its own. */
export interface MlsSuite {
  readonly name: CiphersuiteName;
  readonly impl: CiphersuiteImpl;
  readonly signatures: SignatureProvider;
}

export async function createSuite(options: { signatures?: SignatureProvider } = {}): Promise<MlsSuite> {
  const signatures = options.signatures ?? createSignatureProvider();
  const base = await getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITE_NAME));
  return { name: CIPHER_SUITE_NAME, impl: { ...base, signature: signatures }, signatures };
}
