import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import {
  authenticationService,
  carProofs,
  deviceRecords,
  didDocuments,
  eventRecords,
  firehoseFrames,
  keyPackageRecords,
  listRecordsPages,
} from './targets/atproto';

const FILE = 'test/fuzz/atproto.fuzz.test.ts';

describe('fuzzing what repos and PDSes hand us', () => {
  it('event records: typed InvalidRecord or a record that round-trips', () => runTarget(eventRecords, FILE));
  it('device records', () => runTarget(deviceRecords, FILE));
  it('key package records', () => runTarget(keyPackageRecords, FILE));
  it('listRecords pages: refused, or only in-repo records in ascending order', () => runTarget(listRecordsPages, FILE));
  it('getRecord CAR proofs: refused, or exactly what the genuine proof says', () => runTarget(carProofs, FILE));
  it('DID documents: refused, or the DID asked about with a usable key and a secure PDS', () => runTarget(didDocuments, FILE));
  it('firehose frames: a wake-up for a watched repo, or a typed error, never a throw', () => runTarget(firehoseFrames, FILE));
  it('the Authentication Service over mutated identities, keys and device records', () => runTarget(authenticationService, FILE));
});
