import { describe, expect, it } from 'vitest';
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { hexToBytes } from '@noble/hashes/utils.js';
import { CIPHER_SUITE_NAME } from '../../../src/mls';
import { deriveX25519PrivateKey, withLazyKeyDerivation } from '../../../src/mls/hpke';
import { hex, utf8 } from './helpers';

// RFC 9180 Appendix A.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM): the sender's
// ephemeral and the recipient's key pairs, each derived from its ikm.
const A1 = [
  {
    ikm: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
    sk: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
    pk: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  },
  {
    ikm: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
    sk: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
    pk: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  },
];

async function hpkes() {
  const base = (await getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITE_NAME))).hpke;
  return { base, lazy: withLazyKeyDerivation(base) };
}

describe('HPKE with lazily derived key pairs (src/mls/hpke.ts)', () => {
  it('derives the key pairs of RFC 9180 A.1', async () => {
    const { lazy } = await hpkes();
    for (const v of A1) {
      expect(hex(deriveX25519PrivateKey(hexToBytes(v.ikm)))).toBe(v.sk);
      const pair = await lazy.deriveKeyPair(hexToBytes(v.ikm));
      expect(hex(await lazy.exportPrivateKey(pair.privateKey))).toBe(v.sk);
      expect(hex(await lazy.exportPublicKey(pair.publicKey))).toBe(v.pk);
    }
  });

  it('gives the same key pairs as @hpke/core for any input', async () => {
    const { base, lazy } = await hpkes();
    for (let i = 0; i < 20; i++) {
      const ikm = crypto.getRandomValues(new Uint8Array(32));
      const expected = await base.deriveKeyPair(ikm);
      const got = await lazy.deriveKeyPair(ikm);
      expect(hex(await lazy.exportPrivateKey(got.privateKey))).toBe(hex(await base.exportPrivateKey(expected.privateKey)));
      expect(hex(await lazy.exportPublicKey(got.publicKey))).toBe(hex(await base.exportPublicKey(expected.publicKey)));
    }
  });

  it('lets a derived pair seal, open and export HPKE secrets like an imported one', async () => {
    const { base, lazy } = await hpkes();
    const pair = await lazy.deriveKeyPair(crypto.getRandomValues(new Uint8Array(32)));
    const info = utf8('info');
    const sealed = await lazy.seal(pair.publicKey, utf8('path secret'), info);
    expect(new TextDecoder().decode(await lazy.open(pair.privateKey, sealed.enc, sealed.ct, info))).toBe('path secret');
    // The other side of each call holds @hpke/core's own keys: both sides agree.
    const imported = await base.importPrivateKey(await lazy.exportPrivateKey(pair.privateKey));
    expect(new TextDecoder().decode(await base.open(imported, sealed.enc, sealed.ct, info))).toBe('path secret');
    const exported = await lazy.exportSecret(pair.publicKey, utf8('ctx'), 32, info);
    expect(hex(await lazy.importSecret(pair.privateKey, utf8('ctx'), exported.enc, 32, info))).toBe(hex(exported.secret));
    // A sealed message to someone else's key does not open with this one.
    const other = await lazy.deriveKeyPair(crypto.getRandomValues(new Uint8Array(32)));
    await expect(lazy.open(other.privateKey, sealed.enc, sealed.ct, info)).rejects.toThrow();
  });
});
