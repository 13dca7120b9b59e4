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
