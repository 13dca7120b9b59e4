import { describe, it } from 'vitest';
import { runTarget } from './lib/harness';
import { content, envelopeInner, envelopeOuter, inviteInner, inviteOuter, padding, tagTarget } from './targets/protocol';

const FILE = 'test/fuzz/protocol.fuzz.test.ts';

describe('fuzzing the event protocol (src/protocol)', () => {
  it('padding: pad/unpad round-trip, strict unpadding', () => runTarget(padding, FILE));
  it('tags: computing, matching and consuming', () => runTarget(tagTarget, FILE));
  it('envelopes altered after sealing never open', () => runTarget(envelopeOuter, FILE));
  it('envelopes sealed by a member around malformed MLS messages', () => runTarget(envelopeInner, FILE));
  it('stealth invites altered after sealing', () => runTarget(inviteOuter, FILE));
  it('stealth invites sealed to us around malformed payloads', () => runTarget(inviteInner, FILE));
  it('message content: hostile DAG-CBOR', () => runTarget(content, FILE));
});
