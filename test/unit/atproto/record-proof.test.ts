import * as CAR from '@atcute/car';
import { describe, expect, it } from 'vitest';
import { verifyRecordProof } from '../../../src/atproto/record-proof';
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
