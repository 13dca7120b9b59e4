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

export interface ResolveOptions {
  /**
   * Fetch the DID document now instead of taking a cached one (the answer refreshes the cache).
   * Record proofs ask for this: the key that checks a commit signature is never a cached one.
   */
  fresh?: boolean;
}

export interface IdentityResolver {
  resolveDid(did: string, options?: ResolveOptions): Promise<ResolvedIdentity>;
}

/** How long a resolved DID document is reused for finding a PDS (see createIdentityResolver). */
export const DEFAULT_IDENTITY_TTL_MS = 5 * 60_000;

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
 *
 * Successful resolutions are cached for `ttlMs` (default 5 minutes; 0 turns the cache off);
 * failures are never cached, and a failed resolution drops the DID's entry, so a document that
 * stopped resolving is not served from memory either. Concurrent resolutions of one DID share
 * one request. Why this cannot weaken authentication:
 * - The cached answer is used to *find* a PDS: to read event records, blobs and listings. None
 *   of that is trusted because of where it came from: events are MLS-authenticated and
 *   matched by tag, blobs are checked against their CID, listings are parsed as untrusted.
 *   A stale endpoint can withhold or delay data (as any PDS can), never forge it.
 * - The `#atproto` signing key that checks repo commit signatures (record proofs,
 *   src/atproto/record-proof.ts, which is how device credentials are authenticated) is always
 *   taken from a document fetched for that proof (`fresh: true`), exactly as without a cache.
 * So the TTL bounds one thing: how long after a DID moves to another PDS we may keep reading
 *   (stale or no) events from the old one; repos.ts re-resolves at once when a request to the
 *   cached endpoint fails, which is what a PDS a repo has left answers (deactivated, not found).
 */
export function createIdentityResolver(options: {
  plcUrl: string;
  fetch?: FetchLike;
  timeoutMs?: number;
  ttlMs?: number;
  /** The cache's clock (defaults to Date.now). */
  now?: () => number;
}): IdentityResolver {
  const ttlMs = options.ttlMs ?? DEFAULT_IDENTITY_TTL_MS;
  const now = options.now ?? Date.now;
  /** `fetchedAt` is when the request started: a conservative age, and the order of answers. */
  const cache = new Map<string, { identity: ResolvedIdentity; fetchedAt: number }>();
  const inFlight = new Map<string, Promise<ResolvedIdentity>>();

  async function fetchAndRemember(did: string): Promise<ResolvedIdentity> {
    const startedAt = now();
    let identity: ResolvedIdentity;
    try {
      identity = await resolveUncached(did, options);
    } catch (error) {
      // Only an entry older than this attempt goes: a newer answer is not undone by an older failure.
      const entry = cache.get(did);
      if (entry && entry.fetchedAt <= startedAt) cache.delete(did);
      throw error;
    }
    const entry = cache.get(did);
    // A slower request that started earlier must not replace what a later one found.
    if (ttlMs > 0 && (!entry || entry.fetchedAt <= startedAt)) {
      if (!entry) pruneExpired();
      cache.set(did, { identity, fetchedAt: startedAt });
    }
    return identity;
  }

  function pruneExpired(): void {
    const oldest = now() - ttlMs;
    for (const [did, entry] of cache) if (entry.fetchedAt <= oldest) cache.delete(did);
  }

  return {
    async resolveDid(did, resolveOptions) {
      if (!isAtprotoDid(did)) throw new AtmError('InvalidDid', 'not a did:plc or did:web', { did });
      if (resolveOptions?.fresh) return fetchAndRemember(did);
      const entry = cache.get(did);
      if (entry && now() - entry.fetchedAt < ttlMs) return entry.identity;
      let pending = inFlight.get(did);
      if (!pending) {
        pending = fetchAndRemember(did).finally(() => inFlight.delete(did));
        inFlight.set(did, pending);
      }
      return pending;
    },
  };
}

/** One DID document fetch and validation, nothing remembered. */
async function resolveUncached(did: string, options: { plcUrl: string; fetch?: FetchLike; timeoutMs?: number }): Promise<ResolvedIdentity> {
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
}
