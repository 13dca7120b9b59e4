import type { CiphersuiteImpl } from 'ts-mls';
import { CIPHER_SUITE_ID, createSuite } from '../../../../src/mls';

/**
 * The vectors run on the suite the extension uses (src/mls/suite.ts: ts-mls's suite 1 with our
 * caching signature provider and @noble/hashes for SHA-256/HMAC/HKDF), so they check the patched
 * protocol code and our primitives together. Only suite 1 vectors are kept (README.md).
 */
export async function vectorSuite(id: number): Promise<CiphersuiteImpl> {
  if (id !== CIPHER_SUITE_ID) throw new Error(`only suite ${CIPHER_SUITE_ID} vectors are kept, got ${id}`);
  return (await createSuite()).impl;
}
