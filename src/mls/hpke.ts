import type { Hpke, PrivateKey, PublicKey } from 'ts-mls';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * ts-mls's HPKE for suite 1 (DHKEM(X25519, HKDF-SHA256), @hpke/core over WebCrypto) with
 * `deriveKeyPair` made lazy. ts-mls derives a key pair for every node secret of an UpdatePath and
 * then only exports it: the private key of each node above the common ancestor when it processes
 * a commit, the public key of each path node when it creates one. @hpke/core derives through
 * about eight WebCrypto calls per pair (HKDF via HMAC keys, a PKCS #8 import, a JWK export and
 * re-import for the public key, a JWK export for the private key), each a round trip to the
 * crypto thread. Here the private key is RFC 9180's derivation over @noble/hashes (synchronous),
 * and the public key is computed only when exported: X25519(sk, 9) (RFC 7748 §6.1) through one
 * WebCrypto import and one `deriveBits`. Every other operation is @hpke/core's; a derived key that
 * reaches one of them is imported first. Only for X25519, the suite protocol v1 uses.
 */
export function withLazyKeyDerivation(base: Hpke): Hpke {
  const derivedPrivate = new WeakMap<object, Uint8Array>();
  const derivedPublic = new WeakMap<object, { sk: Uint8Array; pk?: Promise<Uint8Array> }>();
  let basePoint: Promise<CryptoKey> | undefined;

  const publicKeyBytes = (entry: { sk: Uint8Array; pk?: Promise<Uint8Array> }): Promise<Uint8Array> =>
    (entry.pk ??= (async () => {
      basePoint ??= crypto.subtle.importKey('raw', X25519_BASE_POINT, { name: 'X25519' }, false, []);
      const privateKey = await base.importPrivateKey(entry.sk);
      const bits = await crypto.subtle.deriveBits({ name: 'X25519', public: await basePoint }, privateKey, 256);
      return new Uint8Array(bits);
    })());
  const usablePrivate = async (key: PrivateKey): Promise<PrivateKey> => {
    const sk = derivedPrivate.get(key);
    return sk === undefined ? key : base.importPrivateKey(sk);
  };
  const usablePublic = async (key: PublicKey): Promise<PublicKey> => {
    const entry = derivedPublic.get(key);
    return entry === undefined ? key : base.importPublicKey(await publicKeyBytes(entry));
  };

  return {
    ...base,
    open: async (key, kemOutput, ciphertext, info, aad) => base.open(await usablePrivate(key), kemOutput, ciphertext, info, aad),
    seal: async (key, plaintext, info, aad) => base.seal(await usablePublic(key), plaintext, info, aad),
    exportSecret: async (key, context, length, info) => base.exportSecret(await usablePublic(key), context, length, info),
    importSecret: async (key, context, kemOutput, length, info) =>
      base.importSecret(await usablePrivate(key), context, kemOutput, length, info),
    exportPrivateKey: async (key) => derivedPrivate.get(key)?.slice() ?? base.exportPrivateKey(key),
    exportPublicKey: async (key) => {
      const entry = derivedPublic.get(key);
      return entry === undefined ? base.exportPublicKey(key) : (await publicKeyBytes(entry)).slice();
    },
    deriveKeyPair: async (ikm) => {
      const sk = deriveX25519PrivateKey(ikm);
      // Opaque handles: ts-mls passes key pairs around without looking inside.
      const privateKey = Object.freeze({ type: 'private' }) as unknown as PrivateKey;
      const publicKey = Object.freeze({ type: 'public' }) as unknown as PublicKey;
      derivedPrivate.set(privateKey, sk);
      derivedPublic.set(publicKey, { sk });
      return { privateKey, publicKey };
    },
  };
}

const X25519_BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

/** suite_id of RFC 9180 §4.1 for the KEM: "KEM" || I2OSP(0x0020, 2), DHKEM(X25519, HKDF-SHA256). */
const KEM_SUITE_ID = concatBytes(utf8ToBytes('KEM'), Uint8Array.of(0x00, 0x20));
const HPKE_V1 = utf8ToBytes('HPKE-v1');
const SK_LENGTH = 32;

/**
 * RFC 9180 §7.1.3 DeriveKeyPair for X25519: sk = LabeledExpand(LabeledExtract("", "dkp_prk", ikm),
 * "sk", "", Nsk). X25519 takes any 32 bytes as a private key, so there is no rejection loop.
 */
export function deriveX25519PrivateKey(ikm: Uint8Array): Uint8Array {
  const dkpPrk = extract(sha256, concatBytes(HPKE_V1, KEM_SUITE_ID, utf8ToBytes('dkp_prk'), ikm), new Uint8Array(0));
  const info = concatBytes(Uint8Array.of(0, SK_LENGTH), HPKE_V1, KEM_SUITE_ID, utf8ToBytes('sk'));
  return expand(sha256, dkpPrk, info, SK_LENGTH);
}

