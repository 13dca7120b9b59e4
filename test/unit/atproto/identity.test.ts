import { describe, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../src/atproto/identity';
import { isAtmError } from '../../../src/errors';
import { pdsFixture } from '../../fuzz/lib/fixtures';

// The DID document the local PLC served for the fuzz fixture's account (test/fuzz/fixtures/pds.json).

function serving(doc: unknown) {
  return createIdentityResolver({ plcUrl: 'https://plc.example', fetch: async () => Response.json(doc) });
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('DID documents', () => {
  const { did, didDocument } = pdsFixture();
  const genuine = JSON.parse(new TextDecoder().decode(didDocument)) as { verificationMethod: Array<{ publicKeyMultibase: string }> };

  it('give the #atproto key and the PDS', async () => {
    const resolved = await serving(genuine).resolveDid(did);
    expect(resolved.signingKey.publicKeyBytes).toEqual(pdsFixture().signingKey.publicKeyBytes);
    expect(resolved.pds).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('naming key bytes that are not a curve point are refused (found by fuzzing)', async () => {
    const key = genuine.verificationMethod[0]!.publicKeyMultibase;
    for (const multibase of [key.slice(0, 20), `${key}${key.slice(1, 30)}`, key.slice(0, -1)]) {
      const doc = structuredClone(genuine);
      doc.verificationMethod[0]!.publicKeyMultibase = multibase;
      expect(await failure(serving(doc).resolveDid(did)), multibase).toBe('InvalidDidDocument');
    }
  });
});

describe('the DID document cache', () => {
  const { did, didDocument } = pdsFixture();
  const genuine = JSON.parse(new TextDecoder().decode(didDocument)) as { service: Array<{ serviceEndpoint: string }> };
  const movedTo = 'https://moved.example';
  const moved = structuredClone(genuine);
  moved.service[0]!.serviceEndpoint = movedTo;

  /** A PLC that serves `answer()` (a document, or a failure) and counts requests; a clock we move. */
  function plc(ttlMs?: number) {
    const state = { requests: 0, answer: (): Response => Response.json(genuine), time: 1_000_000 };
    const resolver = createIdentityResolver({
      plcUrl: 'https://plc.example',
      fetch: async () => {
        state.requests++;
        return state.answer();
      },
      now: () => state.time,
      ...(ttlMs === undefined ? {} : { ttlMs }),
    });
    return { state, resolver };
  }

  it('answers from memory within the TTL and asks the PLC again once it has passed', async () => {
    const { state, resolver } = plc(60_000);
    const first = await resolver.resolveDid(did);
    state.answer = () => Response.json(moved);
    state.time += 59_999;
    expect(await resolver.resolveDid(did)).toBe(first);
    expect(state.requests).toBe(1);
    state.time += 1;
    expect((await resolver.resolveDid(did)).pds).toBe(movedTo);
    expect(state.requests).toBe(2);
  });

  it('shares one request between concurrent resolutions', async () => {
    const { state, resolver } = plc();
    const [a, b] = await Promise.all([resolver.resolveDid(did), resolver.resolveDid(did)]);
    expect(a).toBe(b);
    expect(state.requests).toBe(1);
  });

  it('does not cache failures: the next resolution asks again', async () => {
    const { state, resolver } = plc();
    state.answer = () => new Response('busy', { status: 503 });
    expect(await failure(resolver.resolveDid(did))).toBe('Network');
    state.answer = () => new Response('gone', { status: 404 });
    expect(await failure(resolver.resolveDid(did))).toBe('DidNotFound');
    state.answer = () => Response.json(genuine);
    expect((await resolver.resolveDid(did)).did).toBe(did);
    expect(state.requests).toBe(3);
  });

  it('a fresh resolution (after a failed request, or for a proof) bypasses and refreshes the cache', async () => {
    const { state, resolver } = plc();
    expect((await resolver.resolveDid(did)).pds).not.toBe(movedTo);
    state.answer = () => Response.json(moved);
    expect((await resolver.resolveDid(did, { fresh: true })).pds).toBe(movedTo);
    expect((await resolver.resolveDid(did)).pds).toBe(movedTo);
    expect(state.requests).toBe(2);
  });

  it('a document that stops resolving is not served from memory afterwards', async () => {
    const { state, resolver } = plc();
    await resolver.resolveDid(did);
    state.answer = () => new Response('tombstoned', { status: 404 });
    expect(await failure(resolver.resolveDid(did, { fresh: true }))).toBe('DidNotFound');
    expect(await failure(resolver.resolveDid(did))).toBe('DidNotFound');
    expect(state.requests).toBe(3);
  });

  it('an invalid document is never cached (refused every time)', async () => {
    const { state, resolver } = plc();
    state.answer = () => Response.json({ ...genuine, id: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' });
    expect(await failure(resolver.resolveDid(did))).toBe('InvalidDidDocument');
    expect(await failure(resolver.resolveDid(did))).toBe('InvalidDidDocument');
    expect(state.requests).toBe(2);
  });

  it('ttlMs 0 turns the cache off', async () => {
    const { state, resolver } = plc(0);
    await resolver.resolveDid(did);
    await resolver.resolveDid(did);
    expect(state.requests).toBe(2);
  });
});
