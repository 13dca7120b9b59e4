import { describe, expect, it } from 'vitest';
import {
  addMembers,
  createGroup,
  createSignatureProvider,
  createSuite,
  decodeGroupState,
  decryptApplicationMessage,
  encodeGroupState,
  encryptApplicationMessage,
  joinGroup,
  type MlsContext,
} from '../../../src/mls';
import { fixedClock, keyPackageFor, newDevice, registryAuth, utf8 } from './helpers';

/** WebCrypto with importKey counted, as seen by the provider under test. */
function countingSubtle() {
  const real = globalThis.crypto.subtle;
  const imports: string[] = [];
  const subtle = new Proxy(real, {
    get(target, prop) {
      if (prop === 'importKey') {
        return (format: string, ...rest: unknown[]) => {
          imports.push(format);
          return (target.importKey as (...a: unknown[]) => Promise<CryptoKey>).call(target, format, ...rest);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { subtle, imports };
}

async function independentVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) {
  const key = await crypto.subtle.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, 'Ed25519', false, ['verify']);
  return crypto.subtle.verify('Ed25519', key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>);
}

describe('the caching signature provider', () => {
  it('imports a signing key once and a verifying key once, however often they are used', async () => {
    const { subtle, imports } = countingSubtle();
    const provider = createSignatureProvider({ subtle });
    const { publicKey, signKey } = await provider.keygen();
    const signatures = [];
    for (let i = 0; i < 20; i++) signatures.push(await provider.sign(signKey.slice(), utf8(`m${i}`)));
    for (let i = 0; i < 20; i++) expect(await provider.verify(publicKey.slice(), utf8(`m${i}`), signatures[i]!)).toBe(true);
    expect(await provider.verify(publicKey, utf8('other'), signatures[0]!)).toBe(false);
    // Checked before: remembered, not counted again.
    expect(await provider.verify(publicKey, utf8('m3'), signatures[3]!)).toBe(true);
    expect(imports.filter((f) => f === 'pkcs8')).toHaveLength(1);
    expect(imports.filter((f) => f === 'raw')).toHaveLength(1);
    expect(provider.stats()).toMatchObject({ signingKeyImports: 1, verifyingKeyImports: 1, signatures: 20, verifications: 21 });
    // The signatures are real Ed25519 signatures.
    expect(await independentVerify(publicKey, utf8('m7'), signatures[7]!)).toBe(true);
  });

  it('remembers a successful check of a short message (key, signature, message byte for byte), never a failed one', async () => {
    const calls: string[] = [];
    const subtle = new Proxy(crypto.subtle, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop === 'verify') return (...a: unknown[]) => (calls.push('verify'), (value as (...b: unknown[]) => Promise<boolean>).apply(target, a));
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const provider = createSignatureProvider({ subtle });
    const { publicKey, signKey } = await provider.keygen();
    const message = utf8('a leaf node');
    const signature = await provider.sign(signKey, message);
    expect(await provider.verify(publicKey, message, signature)).toBe(true);
    expect(await provider.verify(publicKey.slice(), message.slice(), signature.slice())).toBe(true);
    expect(calls).toHaveLength(1);
    // Same key and signature, another message of the same length: checked, and false.
    expect(await provider.verify(publicKey, utf8('a leaf nodf'), signature)).toBe(false);
    expect(await provider.verify(publicKey, utf8('a leaf nodf'), signature)).toBe(false);
    expect(calls).toHaveLength(3);
    // A long message (an application message's content) is checked every time.
    const long = new Uint8Array(4096).fill(7);
    const longSignature = await provider.sign(signKey, long);
    expect(await provider.verify(publicKey, long, longSignature)).toBe(true);
    expect(await provider.verify(publicKey, long, longSignature)).toBe(true);
    expect(calls).toHaveLength(5);
    provider.clear();
    expect(await provider.verify(publicKey, message, signature)).toBe(true);
    expect(calls).toHaveLength(6);
    // The same bytes split another way (a 31-byte key, a 65-byte signature) are not that check.
    const shorterKey = publicKey.slice(0, 31);
    const longerSignature = new Uint8Array([publicKey[31]!, ...signature]);
    expect(await provider.verify(shorterKey, message, longerSignature)).toBe(false);
  });

  it('is a bounded LRU, and shares one import between concurrent first uses', async () => {
    const { subtle, imports } = countingSubtle();
    const provider = createSignatureProvider({ subtle, maxSigningKeys: 2 });
    const keys = await Promise.all([0, 1, 2].map(() => provider.keygen()));
    await Promise.all([1, 2, 3].map((i) => provider.sign(keys[0]!.signKey, utf8(`${i}`))));
    expect(provider.stats().signingKeyImports).toBe(1);
    await provider.sign(keys[1]!.signKey, utf8('x'));
    await provider.sign(keys[2]!.signKey, utf8('x'));
    expect(provider.stats().signingKeyImports).toBe(3);
    await provider.sign(keys[0]!.signKey, utf8('x')); // evicted, imported again
    expect(provider.stats().signingKeyImports).toBe(4);
    await provider.sign(keys[2]!.signKey, utf8('y')); // still cached
    expect(provider.stats().signingKeyImports).toBe(4);
    expect(imports.filter((f) => f === 'pkcs8')).toHaveLength(4);
  });

  it('accepts a raw 32-byte seed as well as PKCS#8, and refuses malformed public keys by returning false', async () => {
    const provider = createSignatureProvider();
    const { publicKey, signKey } = await provider.keygen();
    const seed = signKey.slice(signKey.length - 32);
    const fromSeed = await provider.sign(seed, utf8('same'));
    const fromPkcs8 = await provider.sign(signKey, utf8('same'));
    expect(Array.from(fromSeed)).toEqual(Array.from(fromPkcs8)); // Ed25519 is deterministic
    expect(await independentVerify(publicKey, utf8('same'), fromSeed)).toBe(true);
    expect(await provider.verify(new Uint8Array(5), utf8('same'), fromSeed)).toBe(false);
  });

  it('is what ts-mls signs with: a group run imports each device key once, even across a state decode', async () => {
    const { subtle, imports } = countingSubtle();
    const signatures = createSignatureProvider({ subtle });
    const suite = await createSuite({ signatures });
    const [alice, bob] = await Promise.all([newDevice('alice', suite), newDevice('bob', suite)]);
    const ctx: MlsContext = { suite, auth: registryAuth([alice, bob]).auth, clock: fixedClock() };
    const [akp, bkp] = await Promise.all([keyPackageFor(ctx, alice), keyPackageFor(ctx, bob)]);
    const created = await createGroup(ctx, { keyPackage: akp.keyPackage, privateKeyPackage: akp.privateKeyPackage });
    const add = await addMembers(ctx, created, [bkp.keyPackage]);
    let a = add.newState;
    let b = await joinGroup(ctx, { welcome: add.welcome, ratchetTree: add.ratchetTree, keyPackage: bkp.keyPackage, privateKeyPackage: bkp.privateKeyPackage });
    for (let i = 0; i < 10; i++) {
      // A restart between messages: fresh buffers for the same key bytes.
      a = decodeGroupState(ctx, encodeGroupState(a));
      const sent = await encryptApplicationMessage(ctx, a, utf8(`n${i}`));
      a = sent.newState;
      b = (await decryptApplicationMessage(ctx, b, sent.message)).newState;
    }
    const stats = signatures.stats();
    expect(stats.signatures).toBeGreaterThanOrEqual(14);
    expect(stats.signingKeyImports).toBe(2);
    expect(imports.filter((f) => f === 'pkcs8')).toHaveLength(2);
    expect(stats.verifyingKeyImports).toBeLessThanOrEqual(2);
    expect(stats.verifications).toBeGreaterThanOrEqual(10);
  });
});
