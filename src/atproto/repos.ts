import { Client, jsonToLex, lexToJson, type Agent, type JsonValue, type LexMap, type LexValue, type NsidString } from '@atproto/lex';
import { cidForRawBytes, parseCidSafe } from '@atproto/lex-data';
import { AtmError, isAtmError } from '../errors';
import type { OwnRepo, PublicRepos, RepoRecord } from '../engine/ports';
import * as lexicons from '../lexicons';
import { fetchBytes, type FetchLike } from './http';
import type { IdentityResolver } from './identity';

const repoMethods = lexicons.com.atproto.repo;

/**
 * A failed write of ours. A refusal the PDS will repeat (400 bad record, 413 too large) is
 * final, so the outbox parks the item instead of retrying forever; an expired session (401,
 * 403), a rate limit or no answer is worth retrying after re-authentication or a pause.
 */
function networkError(error: unknown, operation: string): AtmError {
  const status = (error as { status?: number }).status;
  const context = { operation, status, error: (error as { error?: string }).error };
  if (status === 413) return new AtmError('PayloadTooLarge', `${operation} refused: too large`, context);
  if (status === 400) return new AtmError('RemoteRefused', `${operation} refused by the PDS`, context);
  return new AtmError('Network', `${operation} failed`, context);
}

/**
 * The signed-in user's repo through their session. Records of our lexicons are written with
 * `validate` left unset: the PDS does not know `org.atmessaging.*` and stores them as
 * "unknown"; we validate against our lexicons ourselves before every write and after every read.
 */
export function agentOwnRepo(agent: Agent, did: string): OwnRepo {
  const client = new Client(agent);
  const repo = did as `did:${string}:${string}`;
  return {
    did,
    async putRecord(collection, rkey, record) {
      try {
        // The engine hands over records in their JSON form; the client encodes lex values.
        const res = await client.xrpc(repoMethods.putRecord.main, {
          body: { repo, collection: collection as NsidString, rkey, record: jsonToLex(record as JsonValue) as LexMap },
        });
        return { uri: res.body.uri, cid: res.body.cid };
      } catch (error) {
        throw networkError(error, 'putRecord');
      }
    },
    async deleteRecord(collection, rkey) {
      try {
        await client.xrpc(repoMethods.deleteRecord.main, { body: { repo, collection: collection as NsidString, rkey } });
      } catch (error) {
        throw networkError(error, 'deleteRecord');
      }
    },
    async uploadBlob(bytes) {
      let blob: unknown;
      try {
        const res = await client.xrpc(repoMethods.uploadBlob.main, { body: bytes, encoding: 'application/octet-stream' });
        blob = res.body.blob;
      } catch (error) {
        // Over the PDS's blob limit: retrying cannot help, unlike every other failure here.
        if ((error as { status?: number }).status === 413) {
          throw new AtmError('PayloadTooLarge', 'uploadBlob refused: blob too large', {
            operation: 'uploadBlob',
            size: bytes.length,
          });
        }
        throw networkError(error, 'uploadBlob');
      }
      // The client hands back a lex BlobRef (its CID an object); records take its JSON form.
      const json = lexToJson(blob as LexValue);
      const ref = json as { $type?: unknown; ref?: { $link?: unknown }; size?: unknown } | undefined;
      if (ref?.$type !== 'blob' || typeof ref.ref?.$link !== 'string' || ref.size !== bytes.length) {
        throw new AtmError('InvalidRecord', 'uploadBlob answer is not a ref to the uploaded blob', {
          operation: 'uploadBlob',
          size: bytes.length,
        });
      }
      return json;
    },
  };
}

const MAX_PAGE_BYTES = 4 * 1024 * 1024;

// AT Protocol record-key syntax.
const RECORD_KEY = /^[A-Za-z0-9._:~-]{1,512}$/;

function parsePage(
  body: Uint8Array,
  did: string,
  collection: string,
  limit: number,
): { records: RepoRecord[]; cursor?: string } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new AtmError('InvalidRecord', 'listRecords answer is not JSON', { did, collection });
  }
  // `null`, a number or an array parse as JSON too: only an object is a page.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new AtmError('InvalidRecord', 'listRecords answer is not an object', { did, collection });
  }
  const page = json as { records?: unknown; cursor?: unknown };
  if (!Array.isArray(page.records)) {
    throw new AtmError('InvalidRecord', 'listRecords answer has no records', { did, collection });
  }
  const prefix = `at://${did}/${collection}/`;
  const records: RepoRecord[] = [];
  // A page holds at most `limit` records; anything beyond is not what we asked for.
  for (const r of (page.records as Array<Record<string, unknown>>).slice(0, limit)) {
    // A record outside the repo and collection we asked for is someone else's: drop it.
    if (typeof r?.uri !== 'string' || !r.uri.startsWith(prefix) || typeof r.cid !== 'string') continue;
    const rkey = r.uri.slice(prefix.length);
    if (!RECORD_KEY.test(rkey) || rkey === '.' || rkey === '..') continue;
    records.push({ uri: r.uri, cid: r.cid, rkey, value: r.value });
  }
  return { records, ...(typeof page.cursor === 'string' ? { cursor: page.cursor } : {}) };
}

/** Reads anyone's records from the PDS named in their DID document, without credentials. */
export function publicRepos(options: { identity: IdentityResolver; fetch?: FetchLike; timeoutMs?: number }): PublicRepos {
  return {
    listRecords(did, collection, { max = 1000 } = {}) {
      return atPds(options, did, (pds) => listAll(options, pds, did, collection, max));
    },
    listRecordsAfter(did, collection, afterRkey, limit) {
      return listRecordsAfter(options, did, collection, afterRkey, limit);
    },
    getBlob(did, cid) {
      return getBlob(options, did, cid);
    },
  };
}

interface PublicReposOptions {
  identity: IdentityResolver;
  fetch?: FetchLike;
  timeoutMs?: number;
}

/**
 * Runs a request against the DID's PDS as the resolver knows it (a cached answer, usually). A
 * request that fails as a PDS the repo has left would fail (no answer, a refusal, not found)
 * gets the DID resolved afresh and, if its PDS has changed, is tried once more there. Anything
 * else, or the same PDS, fails as before: the caller's retry rules do not change.
 */
async function atPds<T>(options: PublicReposOptions, did: string, request: (pds: string) => Promise<T>): Promise<T> {
  const { pds } = await options.identity.resolveDid(did);
  try {
    return await request(pds);
  } catch (error) {
    if (!isAtmError(error, 'Network') && !isAtmError(error, 'RemoteRefused')) throw error;
    let moved: string;
    try {
      moved = (await options.identity.resolveDid(did, { fresh: true })).pds;
    } catch {
      throw error; // the request's own failure is the one to report
    }
    if (moved === pds) throw error;
    return request(moved);
  }
}

async function listAll(options: PublicReposOptions, pds: string, did: string, collection: string, max: number): Promise<RepoRecord[]> {
  const out: RepoRecord[] = [];
  let cursor: string | undefined;
  do {
    const url = new URL('/xrpc/com.atproto.repo.listRecords', pds);
    url.searchParams.set('repo', did);
    url.searchParams.set('collection', collection);
    const limit = Math.min(100, max - out.length);
    url.searchParams.set('limit', String(limit));
    if (cursor) url.searchParams.set('cursor', cursor);
    const body = await fetchBytes(url.toString(), {
      fetch: options.fetch,
      maxBytes: MAX_PAGE_BYTES,
      timeoutMs: options.timeoutMs,
      accept: 'application/json',
    });
    if (!body) break;
    const page = parsePage(body, did, collection, limit);
    for (const record of page.records) out.push(record);
    // A PDS that repeats its cursor would loop us forever.
    cursor = page.cursor && page.cursor !== cursor && page.records.length > 0 ? page.cursor : undefined;
  } while (cursor && out.length < max);
  return out;
}

/**
 * One page of records after `afterRkey`, oldest first. The PDS's `listRecords` with
 * `reverse=true` orders by rkey ascending and treats `cursor` as "rkey strictly greater than"
 * (PDS 0.4: actor-store record reader), so the last rkey we processed is the cursor. TIDs sort by
 * time, so ascending rkey is write order.
 *
 * The PDS is not trusted with the order: a record not strictly after the previous one (or
 * after `afterRkey`) is dropped, so a caller that keeps the last rkey as its cursor never goes
 * backwards or sees a record twice. `cursor` is the last returned rkey, set only when the page
 * came back full (more may follow); we never adopt a cursor the PDS makes up, which could skip
 * records the caller has not seen.
 */
async function listRecordsAfter(
  options: PublicReposOptions,
  did: string,
  collection: string,
  afterRkey: string | undefined,
  limit: number,
): Promise<{ records: RepoRecord[]; cursor?: string }> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new AtmError('InvalidInput', 'listRecordsAfter limit must be an integer in 1..100', { limit });
  }
  if (afterRkey !== undefined && !RECORD_KEY.test(afterRkey)) {
    throw new AtmError('InvalidInput', 'listRecordsAfter cursor is not a record key', { did, collection });
  }
  const body = await atPds(options, did, (pds) => {
    const url = new URL('/xrpc/com.atproto.repo.listRecords', pds);
    url.searchParams.set('repo', did);
    url.searchParams.set('collection', collection);
    url.searchParams.set('limit', String(limit));
    url.searchParams.set('reverse', 'true');
    if (afterRkey !== undefined) url.searchParams.set('cursor', afterRkey);
    return fetchBytes(url.toString(), {
      fetch: options.fetch,
      maxBytes: MAX_PAGE_BYTES,
      timeoutMs: options.timeoutMs,
      accept: 'application/json',
    });
  });
  if (!body) return { records: [] };
  const page = parsePage(body, did, collection, limit);
  const records: RepoRecord[] = [];
  let last = afterRkey;
  for (const record of page.records) {
    // Plain string comparison is the PDS's (SQLite's) byte order for rkey syntax, which is ASCII.
    if (last !== undefined && record.rkey <= last) continue;
    records.push(record);
    last = record.rkey;
  }
  const full = records.length === limit;
  return { records, ...(full && last !== undefined ? { cursor: last } : {}) };
}

// The event lexicon's `blob.maxSize`: a larger blob is not one of ours.
const MAX_BLOB_BYTES = 4_000_000;

/**
 * A blob from the DID's PDS, verified against its CID: atproto blobs are CIDv1, raw codec,
 * SHA-256, so the bytes prove themselves and the PDS cannot substitute others.
 */
async function getBlob(options: PublicReposOptions, did: string, cid: string): Promise<Uint8Array> {
  const wanted = parseCidSafe(cid, { flavor: 'raw' });
  if (!wanted || wanted.toString() !== cid) {
    throw new AtmError('InvalidInput', 'not a raw-codec SHA-256 blob CID', { did, cid });
  }
  const bytes = await atPds(options, did, async (pds) => {
    const url = new URL('/xrpc/com.atproto.sync.getBlob', pds);
    url.searchParams.set('did', did);
    url.searchParams.set('cid', cid);
    const found = await fetchBytes(url.toString(), {
      fetch: options.fetch,
      maxBytes: MAX_BLOB_BYTES,
      timeoutMs: options.timeoutMs,
    });
    if (!found) throw new AtmError('Network', 'blob not found', { did, cid, status: 404 });
    return found;
  });
  const actual = await cidForRawBytes(bytes);
  if (!actual.equals(wanted)) {
    throw new AtmError('ProofInvalid', 'blob bytes do not match their CID', { did, cid });
  }
  return bytes;
}
