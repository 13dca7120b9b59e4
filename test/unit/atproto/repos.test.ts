import { cidForRawBytes } from '@atproto/lex-data';
import { describe, expect, it } from 'vitest';
import type { FetchLike } from '../../../src/atproto/http';
import type { IdentityResolver, ResolvedIdentity } from '../../../src/atproto/identity';
import { publicRepos } from '../../../src/atproto/repos';
import { AtmError, isAtmError, type AtmErrorCode } from '../../../src/errors';

// The PDS is untrusted: listRecordsAfter and getBlob against a PDS that answers what we script.

const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const PDS = 'https://pds.example';
const COLLECTION = 'org.atmessaging.event';

const identity: IdentityResolver = {
  resolveDid: async (did) => ({ did, pds: PDS }) as ResolvedIdentity,
};

function scripted(answer: (url: URL) => Response): { fetch: FetchLike; urls: URL[] } {
  const urls: URL[] = [];
  return {
    urls,
    fetch: async (input) => {
      const url = new URL(input);
      urls.push(url);
      return answer(url);
    },
  };
}

function page(rkeys: string[], extra: Array<Record<string, unknown>> = []): Response {
  const records = [
    ...rkeys.map((rkey) => ({ uri: `at://${DID}/${COLLECTION}/${rkey}`, cid: 'bafyreiexample', value: { rkey } })),
    ...extra,
  ];
  return Response.json({ records, cursor: 'zzzzzzzzzzzzz' });
}

async function failure(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

const T = ['3lc2222222222', '3lc2222222223', '3lc2222222224', '3lc2222222225'] as const;

describe('listRecordsAfter', () => {
  it('asks for reverse (ascending) order after the cursor, with the limit', async () => {
    const pds = scripted(() => page([T[1], T[2]]));
    const repos = publicRepos({ identity, fetch: pds.fetch });
    await repos.listRecordsAfter(DID, COLLECTION, T[0], 2);
    const params = Object.fromEntries(pds.urls[0]!.searchParams);
    expect(pds.urls[0]!.pathname).toBe('/xrpc/com.atproto.repo.listRecords');
    expect(params).toEqual({ repo: DID, collection: COLLECTION, limit: '2', reverse: 'true', cursor: T[0] });
    await repos.listRecordsAfter(DID, COLLECTION, undefined, 2);
    expect(pds.urls[1]!.searchParams.has('cursor')).toBe(false);
  });

  it("sets its own cursor (the last rkey) only on a full page, never the PDS's", async () => {
    const repos = (rkeys: string[]) => publicRepos({ identity, fetch: scripted(() => page(rkeys)).fetch });
    expect(await repos([T[1], T[2]]).listRecordsAfter(DID, COLLECTION, T[0], 2)).toMatchObject({ cursor: T[2] });
    const short = await repos([T[1]]).listRecordsAfter(DID, COLLECTION, T[0], 2);
    expect(short.records.map((r) => r.rkey)).toEqual([T[1]]);
    expect(short.cursor).toBeUndefined();
  });

  it('drops records not strictly after the cursor and the previous record, and foreign ones', async () => {
    const foreign = [
      { uri: `at://did:plc:bbbbbbbbbbbbbbbbbbbbbbbb/${COLLECTION}/${T[3]}`, cid: 'bafyreiexample', value: {} },
      { uri: `at://${DID}/org.atmessaging.device/${T[3]}`, cid: 'bafyreiexample', value: {} },
      { uri: `at://${DID}/${COLLECTION}/..`, cid: 'bafyreiexample', value: {} },
      { uri: `at://${DID}/${COLLECTION}/${T[3]}`, value: {} },
    ];
    const pds = scripted(() => page([T[0], T[2], T[1], T[2], T[3]], foreign));
    const got = await publicRepos({ identity, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, T[0], 100);
    expect(got.records.map((r) => r.rkey)).toEqual([T[2], T[3]]);
    expect(got.cursor).toBeUndefined();
  });

  it('reads at most `limit` records of an oversized page', async () => {
    const pds = scripted(() => page([T[0], T[1], T[2], T[3]]));
    const got = await publicRepos({ identity, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, undefined, 2);
    expect(got).toMatchObject({ cursor: T[1] });
    expect(got.records.map((r) => r.rkey)).toEqual([T[0], T[1]]);
  });

  it('refuses a bad limit or cursor before asking, and a body that is not a page', async () => {
    const pds = scripted(() => new Response('<html>'));
    const repos = publicRepos({ identity, fetch: pds.fetch });
    for (const limit of [0, 101, 1.5]) {
      expect(await failure(repos.listRecordsAfter(DID, COLLECTION, undefined, limit))).toBe('InvalidInput');
    }
    expect(await failure(repos.listRecordsAfter(DID, COLLECTION, 'a/b', 10))).toBe('InvalidInput');
    expect(pds.urls).toHaveLength(0);
    expect(await failure(repos.listRecordsAfter(DID, COLLECTION, undefined, 10))).toBe('InvalidRecord');
  });

  it('refuses JSON that is not an object (found by the fuzzer: `null` was a TypeError)', async () => {
    for (const body of ['null', '7', '"records"', '[]', '[{"records":[]}]']) {
      const repos = publicRepos({ identity, fetch: scripted(() => new Response(body)).fetch });
      expect(await failure(repos.listRecordsAfter(DID, COLLECTION, undefined, 10)), body).toBe('InvalidRecord');
      expect(await failure(repos.listRecords(DID, COLLECTION)), body).toBe('InvalidRecord');
    }
  });

  it('a 404 is an empty page', async () => {
    const pds = scripted(() => new Response('', { status: 404 }));
    expect(await publicRepos({ identity, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, undefined, 10)).toEqual({
      records: [],
    });
  });
});

describe('getBlob', () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 5]);

  it('returns bytes that hash to the CID, from sync.getBlob on the DID’s PDS', async () => {
    const cid = (await cidForRawBytes(bytes)).toString();
    const pds = scripted(() => new Response(bytes));
    expect(await publicRepos({ identity, fetch: pds.fetch }).getBlob(DID, cid)).toEqual(bytes);
    expect(pds.urls[0]!.pathname).toBe('/xrpc/com.atproto.sync.getBlob');
    expect(Object.fromEntries(pds.urls[0]!.searchParams)).toEqual({ did: DID, cid });
  });

  it('refuses other bytes with ProofInvalid', async () => {
    const cid = (await cidForRawBytes(bytes)).toString();
    const pds = scripted(() => new Response(new Uint8Array([1, 2, 3, 4, 6])));
    expect(await failure(publicRepos({ identity, fetch: pds.fetch }).getBlob(DID, cid))).toBe('ProofInvalid');
  });

  it('stops reading past 4 MB (the lexicon maxSize)', async () => {
    const big = new Uint8Array(4_000_001);
    const cid = (await cidForRawBytes(big)).toString();
    // Streamed, without a content-length to refuse up front.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(big.subarray(0, 2_000_000));
        controller.enqueue(big.subarray(2_000_000));
        controller.close();
      },
    });
    const pds = scripted(() => new Response(body));
    expect(await failure(publicRepos({ identity, fetch: pds.fetch }).getBlob(DID, cid))).toBe('PayloadTooLarge');
  });

  it('refuses a CID that is not a raw-codec blob CID before asking; an absent blob is a Network error', async () => {
    const pds = scripted(() => new Response('', { status: 404 }));
    const repos = publicRepos({ identity, fetch: pds.fetch });
    expect(await failure(repos.getBlob(DID, 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'))).toBe(
      'InvalidInput',
    );
    expect(await failure(repos.getBlob(DID, 'nope'))).toBe('InvalidInput');
    expect(pds.urls).toHaveLength(0);
    expect(await failure(repos.getBlob(DID, (await cidForRawBytes(bytes)).toString()))).toBe('Network');
  });
});

describe('a PDS the DID may have left (cached DID → PDS answers)', () => {
  const NEW_PDS = 'https://new-pds.example';

  /** A resolver whose cached answer is PDS and whose fresh one is `freshPds`; counts fresh asks. */
  function movingIdentity(freshPds: string) {
    const asked = { fresh: 0 };
    const resolver: IdentityResolver = {
      resolveDid: async (did, options) => {
        if (options?.fresh) asked.fresh++;
        return { did, pds: options?.fresh ? freshPds : PDS } as ResolvedIdentity;
      },
    };
    return { asked, resolver };
  }

  it('a failed request re-resolves the DID and is tried once more at its new PDS', async () => {
    for (const status of [400, 502]) {
      const { asked, resolver } = movingIdentity(NEW_PDS);
      const pds = scripted((url) => (url.origin === PDS ? new Response('gone', { status }) : page([T[1]])));
      const result = await publicRepos({ identity: resolver, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, T[0], 2);
      expect(result.records.map((r) => r.rkey)).toEqual([T[1]]);
      expect(pds.urls.map((u) => u.origin)).toEqual([PDS, NEW_PDS]);
      expect(asked.fresh).toBe(1);
    }
  });

  it('blobs and full listings follow the DID too', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const cid = (await cidForRawBytes(bytes)).toString();
    const { resolver } = movingIdentity(NEW_PDS);
    const pds = scripted((url) => {
      if (url.origin === PDS) return new Response('', { status: 404 });
      return url.pathname.endsWith('getBlob') ? new Response(bytes) : page([T[1]]);
    });
    const repos = publicRepos({ identity: resolver, fetch: pds.fetch });
    expect(await repos.getBlob(DID, cid)).toEqual(bytes);
    const failingList = scripted((url) => (url.origin === PDS ? new Response('', { status: 500 }) : Response.json({ records: [] })));
    expect(await publicRepos({ identity: resolver, fetch: failingList.fetch }).listRecords(DID, COLLECTION)).toEqual([]);
    expect(failingList.urls.map((u) => u.origin)).toEqual([PDS, NEW_PDS]);
  });

  it('the same PDS after re-resolving: the first failure stands, not retried', async () => {
    const { asked, resolver } = movingIdentity(PDS);
    const pds = scripted(() => new Response('down', { status: 503 }));
    expect(await failure(publicRepos({ identity: resolver, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, T[0], 2))).toBe('Network');
    expect(pds.urls).toHaveLength(1);
    expect(asked.fresh).toBe(1);
  });

  it('a bad answer (not a failed request) is not blamed on a move', async () => {
    const { asked, resolver } = movingIdentity(NEW_PDS);
    const pds = scripted(() => new Response('not json'));
    expect(await failure(publicRepos({ identity: resolver, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, T[0], 2))).toBe('InvalidRecord');
    expect(asked.fresh).toBe(0);
    expect(pds.urls).toHaveLength(1);
  });

  it('a failure to re-resolve reports the request failure', async () => {
    const resolver: IdentityResolver = {
      resolveDid: async (did, options) => {
        if (options?.fresh) throw new AtmError('Network', 'PLC down');
        return { did, pds: PDS } as ResolvedIdentity;
      },
    };
    const pds = scripted(() => new Response('refused', { status: 400 }));
    expect(await failure(publicRepos({ identity: resolver, fetch: pds.fetch }).listRecordsAfter(DID, COLLECTION, T[0], 2))).toBe('RemoteRefused');
  });
});
