import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommit, emptyPskIndex, encodeMlsMessage } from 'ts-mls';
import { clientConfigFor } from '../../../src/mls/context';
import { processCommit } from '../../../src/mls';
import { buildGroup, keyPackageFor, newDevice, rejection } from './helpers';

// A member that trusts every credential (a modified client) commits Adds of devices nobody
// vouches for. Found by fuzzing: with two such Adds, ts-mls 1.6.4 validates them concurrently
// and leaks the first failure as an unhandled rejection in every receiver.
describe('commits adding key packages our AS refuses', () => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => void process.on('unhandledRejection', record));
  afterEach(() => void process.off('unhandledRejection', record));

  it('are refused as UntrustedCredential, one Add or several, with nothing left unhandled', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob']);
    const [alice, bob] = states as [(typeof states)[0], (typeof states)[0]];
    const strangers = await Promise.all(['eve', 'mallory', 'trent'].map((n) => newDevice(n)));
    const packages = await Promise.all(strangers.map(async (d) => (await keyPackageFor(ctx, d)).keyPackage));
    for (const count of [1, 2, 3]) {
      const trusting = { ...alice, clientConfig: clientConfigFor({ ...ctx, auth: async () => true }) };
      const made = await createCommit(
        { state: trusting, cipherSuite: ctx.suite.impl, pskIndex: emptyPskIndex },
        { extraProposals: packages.slice(0, count).map((keyPackage) => ({ proposalType: 'add' as const, add: { keyPackage } })) },
      );
      const error = await rejection(() => processCommit(ctx, bob, encodeMlsMessage(made.commit)));
      expect(error.code, `${count} Adds`).toBe('UntrustedCredential');
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled, `${count} Adds`).toEqual([]);
    }
  });
});
