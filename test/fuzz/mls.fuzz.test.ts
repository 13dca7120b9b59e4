import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import { keyPackageDirectory, mlsApplication, mlsCommit, mlsKeyPackage, mlsWelcome } from './targets/mls';

const FILE = 'test/fuzz/mls.fuzz.test.ts';

describe('fuzzing the MLS layer against a real group state (src/mls)', () => {
  it('application messages into decryptApplicationMessage', () => runTarget(mlsApplication, FILE));
  it('commits into processCommit, altered or crafted by a member', () => runTarget(mlsCommit, FILE));
  it('Welcomes and ratchet trees into joinGroup', () => runTarget(mlsWelcome, FILE));
  it('KeyPackages into strict decoding and validation', () => runTarget(mlsKeyPackage, FILE));
  it('keyPackage records into the key-package directory', () => runTarget(keyPackageDirectory, FILE));
});
