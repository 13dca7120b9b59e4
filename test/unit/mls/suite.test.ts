import { describe, expect, it } from 'vitest';
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { CIPHER_SUITE_NAME, createSuite } from '../../../src/mls';
import { hex } from './helpers';

// Our suite computes SHA-256, HMAC and HKDF with @noble/hashes instead of WebCrypto (speed:
// thousands of calls per large commit). It must agree with ts-mls's own WebCrypto suite bit for
// bit; the IETF vectors and every group test run on it too.
describe('suite 1 with @noble/hashes for hashing and HKDF', () => {
  it('agrees with ts-mls WebCrypto suite on digest, HMAC, HKDF extract and expand', async () => {
    const ours = (await createSuite()).impl;
    const theirs = await getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITE_NAME));
    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    for (const size of [0, 1, 31, 32, 33, 64, 65, 1000]) {
      const data = random(size);
      // WebCrypto refuses empty HMAC keys; ts-mls never uses one (empty salts go through extract).
      const key = random(1 + (size % 70));
      expect(hex(await ours.hash.digest(data))).toBe(hex(await theirs.hash.digest(data)));
      const mac = await theirs.hash.mac(key, data);
      expect(hex(await ours.hash.mac(key, data))).toBe(hex(mac));
      expect(await ours.hash.verifyMac(key, mac, data)).toBe(true);
      const wrong = mac.slice();
      wrong[0]! ^= 1;
      expect(await ours.hash.verifyMac(key, wrong, data)).toBe(false);
      expect(await ours.hash.verifyMac(key, mac.slice(0, 31), data)).toBe(false);
      // ts-mls's salts are HashLen bytes (the init secret) or empty; @hpke/core refuses others.
      const salt = random(32);
      const prk = await theirs.kdf.extract(salt, data);
      expect(hex(await ours.kdf.extract(salt, data))).toBe(hex(prk));
      // An empty salt is HKDF's default salt (HashLen zeros) in both.
      expect(hex(await ours.kdf.extract(new Uint8Array(0), data))).toBe(hex(await theirs.kdf.extract(new Uint8Array(0), data)));
      for (const length of [1, 16, 32, 42, 255]) {
        expect(hex(await ours.kdf.expand(prk, data.slice(0, 40), length))).toBe(hex(await theirs.kdf.expand(prk, data.slice(0, 40), length)));
      }
    }
    expect(ours.kdf.size).toBe(theirs.kdf.size);
  });
});
