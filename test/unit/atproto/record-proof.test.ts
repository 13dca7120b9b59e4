import * as CAR from '@atcute/car';
import { describe, expect, it } from 'vitest';
import { Secp256k1PrivateKeyExportable } from '@atcute/crypto';
import { createIdentityResolver } from '../../../src/atproto/identity';
import { createRecordProver, verifyRecordProof } from '../../../src/atproto/record-proof';
import { isAtmError } from '../../../src/errors';
import { DEVICE, parseRecord } from '../../../src/protocol/records';
import { mlsFixture, pdsFixture, signingKeyOf } from '../../fuzz/lib/fixtures';

// getRecord CARs captured from a real PDS (test/fuzz/fixtures/pds.json, test/fuzz/make-fixtures.ts).

type Proof = 'device' | 'event' | 'absent';

function args(proof: Proof) {
  const f = pdsFixture();
  const { collection, rkey } = f.proofs[proof];
  return { did: f.did, collection, rkey, signingKey: signingKeyOf(f) };
}

/** The proof's CAR with its i-th block cut out. */
function withoutBlock(car: Uint8Array, i: number): Uint8Array {
  const entry = [...CAR.fromUint8Array(car)][i]!;
  return new Uint8Array([...car.subarray(0, entry.entryStart), ...car.subarray(entry.entryEnd)]);
}

async function outcome(proof: Proof, car: Uint8Array): Promise<string> {
  try {
    const result = await verifyRecordProof({ ...args(proof), car });
    return result ? 'record' : 'absent';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('record proofs from a real PDS', () => {
  it('prove the record, or prove it absent', async () => {
    const device = await verifyRecordProof({ ...args('device'), car: pdsFixture().proofs.device.car });
    expect(parseRecord(DEVICE, device!.json).signatureKey).toEqual(mlsFixture().devices.alice.signature.publicKey);
    expect(await outcome('event', pdsFixture().proofs.event.car)).toBe('record');
    expect(await outcome('absent', pdsFixture().proofs.absent.car)).toBe('absent');
  });

  it('a proof missing any block proves neither presence nor absence (found by fuzzing)', async () => {
    for (const proof of ['device', 'event', 'absent'] as const) {
      const car = pdsFixture().proofs[proof].car;
      const blocks = [...CAR.fromUint8Array(car)].length;
      expect(blocks).toBeGreaterThan(2);
      for (let i = 0; i < blocks; i++) expect(await outcome(proof, withoutBlock(car, i)), `${proof} without block ${i}`).toBe('ProofInvalid');
    }
  });
});

describe('the prover and the DID document cache', () => {
  it('checks the commit with the key of a document fetched for the proof, never a cached one', async () => {
    const f = pdsFixture();
    const genuine = JSON.parse(new TextDecoder().decode(f.didDocument)) as { verificationMethod: unknown[] };
    // The DID rotates its #atproto key after we cached its document: the old key's proofs are void.
    const rotated = structuredClone(genuine);
    const next = await Secp256k1PrivateKeyExportable.createKeypair();
    rotated.verificationMethod[0] = { id: '#atproto', type: 'Multikey', controller: f.did, publicKeyMultibase: await next.exportPublicKey('multikey') };
    let served: unknown = genuine;
    let plcRequests = 0;
    const fetch = async (url: string) => {
      if (url.startsWith('https://plc.example/')) {
        plcRequests++;
        return Response.json(served);
      }
      return new Response(new Uint8Array(f.proofs.device.car));
    };
    const identity = createIdentityResolver({ plcUrl: 'https://plc.example', fetch });
    const prover = createRecordProver({ identity, fetch });
    const { collection, rkey } = f.proofs.device;
    expect(await prover.proveRecord(f.did, collection, rkey)).toBeDefined();
    await identity.resolveDid(f.did); // cached now, with the old key
    served = rotated;
    let code = 'proved';
    try {
      await prover.proveRecord(f.did, collection, rkey);
    } catch (error) {
      code = isAtmError(error) ? error.code : String(error);
    }
    expect(code).toBe('ProofInvalid');
    expect(plcRequests).toBe(2);
  });
});
