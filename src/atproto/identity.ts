import { defs, getAtprotoVerificationMaterial, getPdsEndpoint, getAtprotoHandle } from '@atcute/identity';
import { getPublicKeyFromDidController, P256PublicKey, Secp256k1PublicKey, type FoundPublicKey } from '@atcute/crypto';
import * as v from 'valibot';
import { AtmError } from '../errors';
import { fetchBytes, type FetchLike } from './http';

/** What the rest of the extension needs from a DID document. */
export interface ResolvedIdentity {
  did: string;
  /** The `#atproto` key that signs the DID's repo commits. */
  signingKey: FoundPublicKey;
  /** `#atproto_pds` service endpoint. */
  pds: string;
  handle?: string;
}

export interface IdentityResolver {
  resolveDid(did: string): Promise<ResolvedIdentity>;
}

const PLC_DID = /^did:plc:[a-z2-7]{24}$/;
// did:web with a bare host (optionally %3A-encoded port); paths are not used by atproto.
const WEB_DID = /^did:web:[a-zA-Z0-9.-]+(%3A[0-9]{1,5})?$/;
const MAX_DID_DOCUMENT_BYTES = 64 * 1024;

export function isAtprotoDid(did: unknown): did is string {
  return typeof did === 'string' && (PLC_DID.test(did) || WEB_DID.test(did));
}

function didDocumentUrl(did: string, plcUrl: string): string {
  if (PLC_DID.test(did)) return `${plcUrl.replace(/\/$/, '')}/${did}`;
  if (WEB_DID.test(did)) {
    const host = decodeURIComponent(did.slice('did:web:'.length));
    // Local development serves did:web over http on localhost only.
    const scheme = /^(localhost|127\.0\.0\.1)(:|$)/.test(host) ? 'http' : 'https';
    return `${scheme}://${host}/.well-known/did.json`;
  }
  throw new AtmError('InvalidDid', 'not a did:plc or did:web', { did });
}

/**
 * Proofs and records are only as fresh as the transport: a network attacker on plain http could
 * replay an old signed commit. Plain http is accepted only for loopback (local development).
 */
export function isSecureEndpoint(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
}

/**
 * The legacy `EcdsaSecp256k1VerificationKey2019` form (still served by PLC servers) carries an
 * uncompressed SEC1 point; atcute's Node verifier only imports the compressed form. This is an
 * encoding change (0x04‖X‖Y → 0x02|0x03‖X), not arithmetic.
 */
function compressSecp256k1(key: FoundPublicKey): FoundPublicKey {
  const bytes = key.publicKeyBytes;
  if (key.type !== 'secp256k1' || bytes.length !== 65 || bytes[0] !== 0x04) return key;
  const compressed = new Uint8Array(33);
  compressed[0] = (bytes[64]! & 1) === 1 ? 0x03 : 0x02;
  compressed.set(bytes.subarray(1, 33), 1);
  return { ...key, publicKeyBytes: compressed };
}

/** Throws unless the key is a compressed point (33 bytes, 0x02/0x03) its curve imports. */
async function importKey(key: FoundPublicKey): Promise<void> {
  const bytes = key.publicKeyBytes;
  // Node's import reads a point and ignores bytes after it: the length is checked here.
  if (bytes.length !== 33 || (bytes[0] !== 0x02 && bytes[0] !== 0x03)) throw new Error('not a compressed point');
  await (key.type === 'p256' ? P256PublicKey.importRaw(bytes) : Secp256k1PublicKey.importRaw(bytes));
}

/**
 * Resolves DIDs to their signing key and PDS. The document is validated against the DID
 * document schema and must name the DID we asked for, so a directory cannot answer for
 * another identity.
 */
export function createIdentityResolver(options: { plcUrl: string; fetch?: FetchLike; timeoutMs?: number }): IdentityResolver {
  return {
    async resolveDid(did) {
      if (!isAtprotoDid(did)) throw new AtmError('InvalidDid', 'not a did:plc or did:web', { did });
      const url = didDocumentUrl(did, options.plcUrl);
      const body = await fetchBytes(url, {
        fetch: options.fetch,
        maxBytes: MAX_DID_DOCUMENT_BYTES,
        timeoutMs: options.timeoutMs,
        accept: 'application/did+ld+json, application/json',
      });
      if (!body) throw new AtmError('DidNotFound', 'DID document not found', { did });
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(body));
      } catch {
        throw new AtmError('InvalidDidDocument', 'DID document is not JSON', { did });
      }
      const parsed = v.safeParse(defs.didDocument, json);
      if (!parsed.success || parsed.output.id !== did) {
        throw new AtmError('InvalidDidDocument', 'DID document is invalid or names another DID', { did });
      }
      const doc = parsed.output;
      const material = getAtprotoVerificationMaterial(doc);
      const pds = getPdsEndpoint(doc);
      if (!material || !pds) {
        throw new AtmError('InvalidDidDocument', 'DID document lacks #atproto key or PDS', { did });
      }
      if (!isSecureEndpoint(pds)) {
        throw new AtmError('InvalidDidDocument', 'PDS endpoint must be https (http only on loopback)', { did });
      }
      let signingKey: FoundPublicKey;
      try {
        signingKey = compressSecp256k1(getPublicKeyFromDidController(material));
        // The legacy multibase form carries raw key bytes of any length (found by fuzzing): only
        // a point on the curve is a key, and a document naming anything else is refused here
        // rather than every proof of this DID failing later.
        await importKey(signingKey);
      } catch {
        throw new AtmError('InvalidDidDocument', 'unsupported #atproto key', { did });
      }
      const handle = getAtprotoHandle(doc) ?? undefined;
      return { did, signingKey, pds, ...(handle ? { handle } : {}) };
    },
  };
}
