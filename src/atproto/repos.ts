import type { Agent } from '@atproto/api';
import { AtmError } from '../errors';
import type { OwnRepo, PublicRepos, RepoRecord } from '../engine/ports';
import { fetchBytes, type FetchLike } from './http';
import type { IdentityResolver } from './identity';

function networkError(error: unknown, operation: string): AtmError {
  const status = (error as { status?: number }).status;
  return new AtmError('Network', `${operation} failed`, {
    operation,
    status,
    error: (error as { error?: string }).error,
  });
}

/**
 * The signed-in user's repo through their session. Records of our lexicons are written with
 * `validate` left unset: the PDS does not know `org.atmessaging.*` and stores them as
 * "unknown"; we validate against our lexicons ourselves before every write and after every read.
 */
export function agentOwnRepo(agent: Agent, did: string): OwnRepo {
  return {
    did,
    async putRecord(collection, rkey, record) {
      try {
        const res = await agent.com.atproto.repo.putRecord({
          repo: did,
          collection,
          rkey,
          record: record as Record<string, unknown>,
        });
        return { uri: res.data.uri, cid: res.data.cid };
      } catch (error) {
        throw networkError(error, 'putRecord');
      }
    },
    async deleteRecord(collection, rkey) {
      try {
        await agent.com.atproto.repo.deleteRecord({ repo: did, collection, rkey });
      } catch (error) {
        throw networkError(error, 'deleteRecord');
      }
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
    async listRecords(did, collection, { max = 1000 } = {}) {
      const { pds } = await options.identity.resolveDid(did);
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
    },
  };
}
