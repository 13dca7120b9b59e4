import type { Signature } from 'ts-mls';
import { bytesEqual } from '../bytes';

/**
 * Ed25519 signing for cipher suite 1 through WebCrypto, with imported keys cached.
 *
 * ts-mls 1.6.4's default provider (`crypto/implementation/default/makeNobleSignatureImpl.js`)
 * re-imports the PKCS#8 private key on every `sign` and the raw public key on every `verify`;
 * the import alone costs about 0.5 ms per signature. ts-mls's `CiphersuiteImpl` is a plain
 * object, so `suite.ts` swaps its `signature` member for this provider and every signature ts-mls
 * makes or checks (leaf nodes, KeyPackages, GroupInfo, framed content) goes through the cache.
 *
 * Cache keys are the key bytes themselves: ts-mls hands us the same bytes from the group state
 * for every message, but as fresh views after a state decode, so object identity would miss.
 * Both caches are bounded LRUs; the imported private keys are non-extractable.
 *
 * Successful verifications of short messages are remembered too (public key, signature and the
 * whole message, compared byte for byte): every added KeyPackage has both its signatures checked
 * by our layer (`validateKeyPackage`, with our clock and AS) and then again by ts-mls, which is
 * half of the signature work of an Add commit. Ed25519 verification is a function of those
 * three inputs, so a remembered `true` is what a fresh check would say; failures are not kept.
 */
export interface SignatureProvider extends Signature {
  /** Keys imported into WebCrypto (a cache miss each), signatures made, signatures checked with WebCrypto (remembered ones not counted). */
  stats(): SignatureProviderStats;
  /** Drops every cached key, e.g. after the device's signing key was rotated. */
  clear(): void;
}

export interface SignatureProviderStats {
  signingKeyImports: number;
  verifyingKeyImports: number;
  signatures: number;
  verifications: number;
}

export interface SignatureProviderOptions {
  /** WebCrypto to use; defaults to `globalThis.crypto.subtle`. Injected by tests to count imports. */
  subtle?: SubtleCrypto;
  /** Signing keys kept imported (one per local device, a few during rotation). */
  maxSigningKeys?: number;
  /** Verifying keys kept imported (one per group member seen recently). */
  maxVerifyingKeys?: number;
  /** Successful verifications remembered (of messages up to VERIFIED_MESSAGE_MAX bytes). */
  maxVerified?: number;
}

/** Leaf nodes and KeyPackages are a few hundred bytes; application messages are not kept. */
const VERIFIED_MESSAGE_MAX = 2048;
/** Ed25519's sizes: only with both fixed does key + signature name one pair unambiguously. */
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

const ED25519 = 'Ed25519';

// DER prefix of a PKCS#8 PrivateKeyInfo wrapping a 32-byte Ed25519 seed (RFC 8410 §7), for
// callers holding raw seeds; our own keys are always PKCS#8 already.
const PKCS8_ED25519_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
);

export function createSignatureProvider(options: SignatureProviderOptions = {}): SignatureProvider {
  const subtle = options.subtle ?? globalThis.crypto.subtle;
  const signingKeys = new BoundedCache<Promise<CryptoKey>>(options.maxSigningKeys ?? 8);
  const verifyingKeys = new BoundedCache<Promise<CryptoKey>>(options.maxVerifyingKeys ?? 1024);
  const verified = new BoundedCache<Uint8Array>(options.maxVerified ?? 2048);
  const stats: SignatureProviderStats = {
    signingKeyImports: 0,
    verifyingKeyImports: 0,
    signatures: 0,
    verifications: 0,
  };

  function signingKey(signKey: Uint8Array): Promise<CryptoKey> {
    const id = cacheId(signKey);
    const cached = signingKeys.get(id);
    if (cached !== undefined) return cached;
    stats.signingKeyImports++;
    const pkcs8 = signKey.length === 32 ? concat(PKCS8_ED25519_PREFIX, signKey) : signKey;
    // Caching the promise makes concurrent first uses share one import.
    const imported = subtle.importKey('pkcs8', toArrayBuffer(pkcs8), ED25519, false, ['sign']);
    signingKeys.set(id, imported);
    imported.catch(() => signingKeys.delete(id));
    return imported;
  }

  function verifyingKey(publicKey: Uint8Array): Promise<CryptoKey> {
    const id = cacheId(publicKey);
    const cached = verifyingKeys.get(id);
    if (cached !== undefined) return cached;
    stats.verifyingKeyImports++;
    const imported = subtle.importKey('raw', toArrayBuffer(publicKey), ED25519, true, ['verify']);
    verifyingKeys.set(id, imported);
    imported.catch(() => verifyingKeys.delete(id));
    return imported;
  }

  return {
    async sign(signKey, message) {
      stats.signatures++;
      const key = await signingKey(signKey);
      return new Uint8Array(await subtle.sign(ED25519, key, toArrayBuffer(message)));
    },
    async verify(publicKey, message, signature) {
      const memo =
        message.length <= VERIFIED_MESSAGE_MAX && publicKey.length === PUBLIC_KEY_BYTES && signature.length === SIGNATURE_BYTES
          ? cacheId(publicKey) + cacheId(signature)
          : undefined;
      const seen = memo === undefined ? undefined : verified.get(memo);
      if (seen !== undefined && bytesEqual(seen, message)) return true;
      stats.verifications++;
      let key: CryptoKey;
      try {
        key = await verifyingKey(publicKey);
      } catch {
        // A malformed public key (wrong length, not a point) verifies nothing.
        return false;
      }
      const valid = await subtle.verify(ED25519, key, toArrayBuffer(signature), toArrayBuffer(message));
      if (valid && memo !== undefined) verified.set(memo, message.slice());
      return valid;
    },
    async keygen() {
      const pair = (await subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
      const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
      const signKey = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
      return { publicKey, signKey };
    },
    stats: () => ({ ...stats }),
    clear() {
      signingKeys.clear();
      verifyingKeys.clear();
      verified.clear();
    },
  };
}

/** A Map used as an LRU: a hit moves the entry to the end, inserts evict from the front. */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(id: string): V | undefined {
    const value = this.entries.get(id);
    if (value !== undefined) {
      this.entries.delete(id);
      this.entries.set(id, value);
    }
    return value;
  }

  set(id: string, value: V): void {
    this.entries.delete(id);
    this.entries.set(id, value);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}

function cacheId(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** WebCrypto takes views over ArrayBuffers only; copy the rare view over anything else. */
function toArrayBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
