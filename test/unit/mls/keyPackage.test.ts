import { describe, expect, it } from 'vitest';
import { encodeMlsMessage } from 'ts-mls';
import {
  addMembers,
  checkKeyPackageLifetime,
  decodeKeyPackageMessage,
  DEFAULT_KEY_PACKAGE_LIFETIME_MS,
  encodeGroupState,
  encodeKeyPackageMessage,
  generateKeyPackage,
  isLastResort,
  keyPackageLifetime,
  keyPackageReference,
  LAST_RESORT_EXTENSION_TYPE,
  processCommit,
  validateKeyPackage,
} from '../../../src/mls';
import { TS_MLS_LIFETIME_MESSAGE } from '../../../src/mls/errors';
import { buildGroup, contextFor, fixedClock, hex, keyPackageFor, newDevice, NOW, registryAuth, rejection } from './helpers';

const DAY = 24 * 60 * 60 * 1000;

describe('KeyPackages', () => {
  it('carry the device credential, suite 1, a lifetime around now, and round-trip through TLS', async () => {
    const dev = await newDevice('alice');
    const ctx = await contextFor(registryAuth([dev]).auth);
    const kp = await keyPackageFor(ctx, dev);
    expect(kp.keyPackage.cipherSuite).toBe('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
    expect(new TextDecoder().decode((kp.keyPackage.leafNode.credential as { identity: Uint8Array }).identity)).toBe(dev.identity);
    expect(hex(kp.keyPackage.leafNode.signaturePublicKey)).toBe(hex(dev.keys.publicKey));
    expect(kp.lifetime.notBefore).toBeLessThan(NOW);
    expect(kp.lifetime.notAfter).toBeGreaterThanOrEqual(NOW + DEFAULT_KEY_PACKAGE_LIFETIME_MS - 1000);
    expect(kp.lastResort).toBe(false);
    expect(isLastResort(kp.keyPackage)).toBe(false);

    const decoded = decodeKeyPackageMessage(kp.encoded);
    expect(hex(encodeKeyPackageMessage(decoded))).toBe(hex(kp.encoded));
    expect(hex(await keyPackageReference(ctx.suite, decoded))).toBe(hex(kp.reference));
    expect(keyPackageLifetime(decoded)).toEqual(kp.lifetime);
    expect(await validateKeyPackage(ctx, decoded)).toBe(dev.identity);
  });

  it('mark the last-resort package with the last_resort extension, which survives encoding', async () => {
    const dev = await newDevice('alice');
    const ctx = await contextFor(registryAuth([dev]).auth);
    const kp = await keyPackageFor(ctx, dev, true);
    expect(kp.lastResort).toBe(true);
    const decoded = decodeKeyPackageMessage(kp.encoded);
    expect(isLastResort(decoded)).toBe(true);
    expect(decoded.extensions).toEqual([{ extensionType: LAST_RESORT_EXTENSION_TYPE, extensionData: new Uint8Array(0) }]);
    // A last-resort package is still an ordinary one to the adder.
    const { ctx: groupCtx, states, registry } = await buildGroup(['bob', 'carol']);
    registry.register(dev);
    const added = await addMembers(groupCtx, states[0]!, [decoded]);
    expect(added.added.map((m) => m.identity)).toEqual([dev.identity]);
  });

  it('an expired KeyPackage is rejected by add, and the state is untouched', async () => {
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    registry.register(erin);
    const expired = await generateKeyPackage(ctx, {
      identity: erin.identity,
      signatureKeyPair: erin.keys,
      lifetime: { notBefore: NOW - 40 * DAY, notAfter: NOW - DAY },
    });
    const before = hex(encodeGroupState(states[0]!));
    const err = await rejection(() => addMembers(ctx, states[0]!, [expired.keyPackage]));
    expect(err.code).toBe('KeyPackageExpired');
    expect(err.context.notAfter).toBe(Math.floor((NOW - DAY) / 1000) * 1000);
    expect(hex(encodeGroupState(states[0]!))).toBe(before);

    const notYet = await generateKeyPackage(ctx, {
      identity: erin.identity,
      signatureKeyPair: erin.keys,
      lifetime: { notBefore: NOW + DAY, notAfter: NOW + 2 * DAY },
    });
    expect((await rejection(() => addMembers(ctx, states[0]!, [notYet.keyPackage]))).code).toBe('KeyPackageExpired');
  });

  it('a receiver refuses a commit that adds a key package outside its lifetime (by its own clock)', async () => {
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    registry.register(erin);
    // Valid for the committer now; bob's clock is a day past its end.
    const kp = await generateKeyPackage(ctx, {
      identity: erin.identity,
      signatureKeyPair: erin.keys,
      lifetime: { notBefore: NOW - DAY, notAfter: NOW + DAY },
    });
    const added = await addMembers(ctx, states[0]!, [kp.keyPackage]);
    const bobClock = fixedClock(NOW + 2 * DAY);
    const bobCtx = { ...ctx, clock: bobClock };
    const before = hex(encodeGroupState(states[1]!));
    expect((await rejection(() => processCommit(bobCtx, states[1]!, added.commit))).code).toBe('KeyPackageExpired');
    expect(hex(encodeGroupState(states[1]!))).toBe(before);
    // The same commit is fine while the package is within its lifetime.
    expect((await processCommit(ctx, states[1]!, added.commit)).added.map((m) => m.identity)).toEqual([erin.identity]);
  });

  it('lifetimes are checked with the injected clock', async () => {
    const clock = fixedClock();
    const { ctx, states, registry } = await buildGroup(['alice', 'bob'], clock);
    const erin = await newDevice('erin');
    registry.register(erin);
    const kp = await keyPackageFor(ctx, erin);
    expect(() => checkKeyPackageLifetime(kp.keyPackage, clock)).not.toThrow();
    clock.set(NOW + DEFAULT_KEY_PACKAGE_LIFETIME_MS + DAY);
    expect((await rejection(() => validateKeyPackage(ctx, kp.keyPackage))).code).toBe('KeyPackageExpired');
    expect((await rejection(() => addMembers(ctx, states[0]!, [kp.keyPackage]))).code).toBe('KeyPackageExpired');
    clock.set(NOW);
    expect((await addMembers(ctx, states[0]!, [kp.keyPackage])).added).toHaveLength(1);
  });

  it("ts-mls's own Date.now() lifetime check also maps to KeyPackageExpired", async () => {
    // Our clock says the package is fine; the system clock (used inside ts-mls) says it expired.
    const past = NOW - 100 * DAY;
    const { ctx, states, registry } = await buildGroup(['alice', 'bob']);
    const erin = await newDevice('erin');
    registry.register(erin);
    const old = await generateKeyPackage(ctx, {
      identity: erin.identity,
      signatureKeyPair: erin.keys,
      lifetime: { notBefore: past - DAY, notAfter: past + DAY },
    });
    const pastCtx = { ...ctx, clock: fixedClock(past) };
    const err = await rejection(() => addMembers(pastCtx, states[0]!, [old.keyPackage]));
    expect(err.code).toBe('KeyPackageExpired');
    expect((err.cause as Error).message).toBe(TS_MLS_LIFETIME_MESSAGE);
  });

  it('a KeyPackage with a broken signature or another cipher suite is rejected', async () => {
    const dev = await newDevice('alice');
    const ctx = await contextFor(registryAuth([dev]).auth);
    const kp = await keyPackageFor(ctx, dev);
    const forged = { ...kp.keyPackage, signature: kp.keyPackage.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect((await rejection(() => validateKeyPackage(ctx, forged))).code).toBe('MlsRejected');
    const otherInit = { ...kp.keyPackage, initKey: kp.keyPackage.initKey.map((b, i) => (i === 5 ? b ^ 1 : b)) };
    const reEncoded = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: otherInit });
    expect((await rejection(() => validateKeyPackage(ctx, decodeKeyPackageMessage(reEncoded)))).code).toBe('MlsRejected');
    const otherSuite = { ...kp.keyPackage, cipherSuite: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256' as const };
    expect((await rejection(() => validateKeyPackage(ctx, otherSuite))).code).toBe('UnsupportedCipherSuite');
  });

  it('refuses an empty lifetime and a non-device identity at generation', async () => {
    const dev = await newDevice('alice');
    const ctx = await contextFor(registryAuth([dev]).auth);
    const empty = await rejection(() =>
      generateKeyPackage(ctx, { identity: dev.identity, signatureKeyPair: dev.keys, lifetime: { notBefore: NOW, notAfter: NOW - 1 } }),
    );
    expect(empty.code).toBe('InvalidInput');
    const badId = await rejection(() => generateKeyPackage(ctx, { identity: 'alice', signatureKeyPair: dev.keys }));
    expect(badId.code).toBe('InvalidInput');
  });
});
