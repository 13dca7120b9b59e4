/** The fixed device of docs/test-vectors/protocol-v1.json, derived from seeds with WebCrypto. */
export const VECTOR_SEEDS = {
  did: 'did:plc:vectorsaaaaaaaaaaaaaaaaa',
  rkey: '3lbvectorzzzz',
  createdAt: '2026-11-25T00:00:00.000Z',
  signatureSeed: Uint8Array.from({ length: 32 }, (_, i) => i),
  inviteSeed: Uint8Array.from({ length: 32 }, (_, i) => 0xff - i),
};

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(s, 'hex'));

// RFC 8410 PKCS#8 prefixes for a raw 32-byte private key.
const PKCS8_ED25519 = unhex('302e020100300506032b657004220420');
const PKCS8_X25519 = unhex('302e020100300506032b656e04220420');

async function publicFromPkcs8(pkcs8: Uint8Array<ArrayBuffer>, algorithm: 'Ed25519' | 'X25519'): Promise<Uint8Array> {
  const usages: KeyUsage[] = algorithm === 'Ed25519' ? ['sign'] : ['deriveBits'];
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: algorithm }, true, usages);
  const jwk = await crypto.subtle.exportKey('jwk', key);
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

export async function deviceFromSeeds(seeds: typeof VECTOR_SEEDS) {
  const signaturePkcs8 = new Uint8Array([...PKCS8_ED25519, ...seeds.signatureSeed]);
  const invitePkcs8 = new Uint8Array([...PKCS8_X25519, ...seeds.inviteSeed]);
  return {
    signaturePkcs8,
    signaturePublicKey: await publicFromPkcs8(signaturePkcs8, 'Ed25519'),
    invitePublicKey: await publicFromPkcs8(invitePkcs8, 'X25519'),
  };
}
