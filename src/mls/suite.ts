import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName, type Hash, type Kdf } from 'ts-mls';
import { constantTimeEqual } from 'ts-mls/util/constantTimeCompare.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { withLazyKeyDerivation } from './hpke';
import { createSignatureProvider, type SignatureProvider } from './signatureProvider';

/** The only cipher suite protocol v1 speaks (RFC 9420 §17.1, value 0x0001). */
export const CIPHER_SUITE_NAME: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
export const CIPHER_SUITE_ID = 1;

/**
 * ts-mls's implementation of suite 1 with two members replaced:
 * - `signature`: our caching signature provider (imported keys are reused);
 * - `hash` and `kdf`: SHA-256, HMAC and HKDF from @noble/hashes, computed synchronously. ts-mls
 *   hashes every node of the ratchet tree for each commit (tree hash, parent hashes) and derives
 *   each secret with its own HKDF call; through WebCrypto each call is a round trip to another
 *   thread that costs far more than the hashing (about 4,000 calls per commit at 1,000 members).
 * - `hpke`: derives key pairs lazily (./hpke.ts); X25519 and AES-GCM stay on WebCrypto.
 */
export interface MlsSuite {
  readonly name: CiphersuiteName;
  readonly impl: CiphersuiteImpl;
  readonly signatures: SignatureProvider;
}

export async function createSuite(options: { signatures?: SignatureProvider } = {}): Promise<MlsSuite> {
  const signatures = options.signatures ?? createSignatureProvider();
  const base = await getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITE_NAME));
  return { name: CIPHER_SUITE_NAME, impl: { ...base, signature: signatures, hash: sha256Hash, kdf: hkdfSha256, hpke: withLazyKeyDerivation(base.hpke) }, signatures };
}

export const sha256Hash: Hash = {
  digest: async (data) => sha256(data),
  mac: async (key, data) => hmac(sha256, key, data),
  verifyMac: async (key, mac, data) => constantTimeEqual(hmac(sha256, key, data), mac),
};

export const hkdfSha256: Kdf = {
  extract: async (salt, ikm) => extract(sha256, ikm, salt),
  expand: async (prk, info, length) => expand(sha256, prk, info, length),
  size: 32,
};
