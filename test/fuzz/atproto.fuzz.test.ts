import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import { carProofs, deviceRecords, eventRecords, keyPackageRecords, listRecordsPages } from './targets/atproto';

const FILE = 'test/fuzz/atproto.fuzz.test.ts';

describe('fuzzing what repos and PDSes hand us', () => {
  it('event records: typed InvalidRecord or a record that round-trips', () => runTarget(eventRecords, FILE));
  it('device records', () => runTarget(deviceRecords, FILE));
  it('key package records', () => runTarget(keyPackageRecords, FILE));
  it('listRecords pages: refused, or only in-repo records in ascending order', () => runTarget(listRecordsPages, FILE));
  it('getRecord CAR proofs: refused, or exactly what the genuine proof says', () => runTarget(carProofs, FILE));
});
