import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import { engineContent, engineEnvelope, engineInvite, engineMls, engineRecord } from './targets/engine';

const FILE = 'test/fuzz/engine.fuzz.test.ts';

describe("fuzzing a device's receive path over IndexedDB (src/engine inbox + receive)", () => {
  it('event records with wrong types, fields and sizes, inline or as blobs', () => runTarget(engineRecord, FILE));
  it('events whose sealed bytes or tags were altered', () => runTarget(engineEnvelope, FILE));
  it('altered MLS messages sealed by a member under valid tags', () => runTarget(engineMls, FILE));
  it('hostile content in messages alice really sends', () => runTarget(engineContent, FILE));
  it('stealth invites with malformed Welcomes and trees', () => runTarget(engineInvite, FILE));
});
