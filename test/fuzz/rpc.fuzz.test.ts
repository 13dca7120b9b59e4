import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import { rpcDispatch, rpcParse, rpcPort } from './targets/rpc';

const FILE = 'test/fuzz/rpc.fuzz.test.ts';

describe('fuzzing RPC from pages (src/rpc)', () => {
  it('a content script reaches convo.status with a valid id, or a typed refusal', () => runTarget(rpcDispatch, FILE));
  it('extension pages: every method parser takes only what it documents', () => runTarget(rpcParse, FILE));
  it('ports from any sender: unknown ones closed, known ones get their rights only', () => runTarget(rpcPort, FILE));
});
