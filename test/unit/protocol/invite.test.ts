import { describe, expect, it } from 'vitest';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import {
  INVITE_OVERHEAD,
  openInviteBundle,
  sealInvite,
  sealInviteBundle,
  sealInviteReference,
  tryOpenInvite,
  type OpenedInvite,
} from '../../../src/protocol/invite';
import { BUCKETS } from '../../../src/protocol/padding';
import { isAtmError } from '../../../src/errors';
import { addMembers, createGroup, joinGroup, members } from '../../../src/mls';
import { contextFor, hex, keyPackageFor, newDevice, registryAuth } from '../mls/helpers';

const subtle = globalThis.crypto.subtle;
const ascii = (s: string) => new TextEncoder().encode(s);

/** As device registration makes it: the private key can derive bits but is never exported. */
async function inviteKeyPair() {
  const pair = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  return { publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)), privateKey: pair.privateKey };
}

function bytes(length: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + (i >> 8)) & 0xff);
}

function random(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** 'ok' with the value, or the AtmError code, or 'untyped' for anything else thrown. */
async function outcome<T>(op: () => Promise<T>): Promise<{ kind: 'ok'; value: T } | { kind: string }> {
  try {
    return { kind: 'ok', value: await op() };
  } catch (error) {
    return { kind: isAtmError(error) ? error.code : 'untyped' };
  }
}

/** The smallest bucket for a Welcome and tree, worked out from §6.2/§6.6 by hand. */
function expectedBucket(welcome: number, tree: number): number | undefined {
  return BUCKETS.find((b) => 4 + (4 + welcome + 4 + tree) + 48 <= b);
}

/** Seals an arbitrary padded plaintext exactly as §6.6 does, to forge well-sealed but malformed invites. */
async function sealRaw(inviteKey: Uint8Array, padded: Uint8Array) {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(inviteKey),
    info: ascii('atmessaging/v1 invite'),
  });
  const tag = new Uint8Array(await sender.export(ascii('atmessaging/v1 invite tag'), 16));
  const sealed = new Uint8Array(await sender.seal(padded, new Uint8Array([...ascii('atmessaging/v1 event'), ...tag])));
  return { tag, ciphertext: new Uint8Array([...new Uint8Array(sender.enc), ...sealed]) };
}

/** A padded plaintext (`uint32 len || m || zeros` up to bucket - 48) around an arbitrary payload. */
function paddedAround(payload: Uint8Array, bucket = 512): Uint8Array {
  const out = new Uint8Array(bucket - INVITE_OVERHEAD);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/** The Welcome and tree an invite holds itself (the form sealInvite makes). */
function direct(opened: OpenedInvite | undefined): Extract<OpenedInvite, { kind: 'direct' }> {
  if (opened?.kind !== 'direct') throw new Error(`expected a Welcome, got ${opened?.kind}`);
  return opened;
}

describe('stealth invites (§6.6)', () => {
  it('round-trips to a device whose invite private key is non-extractable', async () => {
    const device = await inviteKeyPair();
    expect(device.privateKey.extractable).toBe(false);
    const welcome = bytes(300, 1);
    const tree = bytes(700, 2);
    const sealed = await sealInvite(device.publicKey, welcome, tree);
    expect(sealed.tag).toHaveLength(16);
    expect(sealed.ciphertext).toHaveLength(2048);
    const opened = await tryOpenInvite(device.privateKey, sealed.tag, sealed.ciphertext);
    if (opened?.kind !== 'direct') throw new Error('expected the Welcome itself');
    expect(hex(opened.welcome)).toBe(hex(welcome));
    expect(hex(opened.ratchetTree)).toBe(hex(tree));
    // A second try with the same key object (cached public half) still opens it.
    const again = await tryOpenInvite(device.privateKey, sealed.tag, sealed.ciphertext);
    expect(again?.kind === 'direct' && hex(again.welcome)).toBe(hex(welcome));
  });

  it('carries a real Welcome and ratchet tree byte for byte, and the invitee joins with them', async () => {
    const [creator, joiner] = await Promise.all([newDevice('inviter'), newDevice('invitee')]);
    const registry = registryAuth([creator, joiner]);
    const ctx = await contextFor(registry.auth);
    const [creatorPackage, joinerPackage] = await Promise.all([keyPackageFor(ctx, creator), keyPackageFor(ctx, joiner)]);
    const initial = await createGroup(ctx, {
      keyPackage: creatorPackage.keyPackage,
      privateKeyPackage: creatorPackage.privateKeyPackage,
    });
    const add = await addMembers(ctx, initial, [joinerPackage.keyPackage]);

    const device = await inviteKeyPair();
    const sealed = await sealInvite(device.publicKey, add.welcome, add.ratchetTree);
    expect(BUCKETS).toContain(sealed.ciphertext.length);
    expect(sealed.ciphertext.length).toBe(expectedBucket(add.welcome.length, add.ratchetTree.length));

    const opened = await tryOpenInvite(device.privateKey, sealed.tag, sealed.ciphertext);
    expect(opened).toBeDefined();
    expect(hex(direct(opened).welcome)).toBe(hex(add.welcome));
    expect(hex(direct(opened).ratchetTree)).toBe(hex(add.ratchetTree));
    const joined = await joinGroup(ctx, {
      welcome: direct(opened).welcome,
      ratchetTree: direct(opened).ratchetTree,
      keyPackage: joinerPackage.keyPackage,
      privateKeyPackage: joinerPackage.privateKeyPackage,
    });
    expect(members(joined).map((m) => m.identity)).toEqual([creator.identity, joiner.identity]);
  });

  it('follows the wire layout of §6.6: opened with @hpke/core directly, not through the helper', async () => {
    // An extractable pair here only so the reference side needs nothing from our code.
    const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const inviteKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    const welcome = bytes(123, 3);
    const tree = bytes(456, 4);
    const { tag, ciphertext } = await sealInvite(inviteKey, welcome, tree);

    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    // The suite the spec names: KEM 0x0020, KDF 0x0001, AEAD 0x0001.
    expect([suite.kem.id, suite.kdf.id, suite.aead.id]).toEqual([0x0020, 0x0001, 0x0001]);
    const enc = ciphertext.slice(0, 32);
    const ctx = await suite.createRecipientContext({ recipientKey: pair, enc, info: ascii('atmessaging/v1 invite') });
    expect(hex(new Uint8Array(await ctx.export(ascii('atmessaging/v1 invite tag'), 16)))).toBe(hex(tag));
    const padded = new Uint8Array(await ctx.open(ciphertext.slice(32), new Uint8Array([...ascii('atmessaging/v1 event'), ...tag])));
    expect(padded.length).toBe(ciphertext.length - 48);

    // padded = uint32(len(payload)) || payload || zeros
    const view = new DataView(padded.buffer);
    const payloadLength = view.getUint32(0);
    expect(payloadLength).toBe(4 + welcome.length + 4 + tree.length);
    expect(padded.slice(4 + payloadLength).every((b) => b === 0)).toBe(true);
    // payload = uint32(len(welcome)) || welcome || uint32(len(tree)) || tree, big-endian
    expect(view.getUint32(4)).toBe(welcome.length);
    expect(hex(padded.slice(8, 8 + welcome.length))).toBe(hex(welcome));
    expect(view.getUint32(8 + welcome.length)).toBe(tree.length);
    expect(hex(padded.slice(12 + welcome.length, 12 + welcome.length + tree.length))).toBe(hex(tree));

    // And the reverse: an invite sealed by the reference steps opens through the helper.
    const forged = await sealRaw(inviteKey, paddedAround(padded.slice(4, 4 + payloadLength), ciphertext.length));
    const opened = await tryOpenInvite(pair.privateKey, forged.tag, forged.ciphertext);
    expect(hex(direct(opened).welcome)).toBe(hex(welcome));
  });

  it('cannot be opened with another device key: undefined, not an error', async () => {
    const [recipient, other] = await Promise.all([inviteKeyPair(), inviteKeyPair()]);
    const sealed = await sealInvite(recipient.publicKey, bytes(50), bytes(60));
    expect(await tryOpenInvite(other.privateKey, sealed.tag, sealed.ciphertext)).toBeUndefined();
    expect(await tryOpenInvite(recipient.privateKey, sealed.tag, sealed.ciphertext)).toBeDefined();
  });

  it('uses a fresh ephemeral key per invite: two invites to one device share no tag and no enc', async () => {
    const device = await inviteKeyPair();
    const a = await sealInvite(device.publicKey, bytes(50), bytes(60));
    const b = await sealInvite(device.publicKey, bytes(50), bytes(60));
    expect(hex(a.tag)).not.toBe(hex(b.tag));
    expect(hex(a.ciphertext.slice(0, 32))).not.toBe(hex(b.ciphertext.slice(0, 32)));
    // Nothing in either is the recipient's key.
    for (const s of [a, b]) expect(hex(s.ciphertext)).not.toContain(hex(device.publicKey));
  });

  it('makes every ciphertext exactly a bucket long, switching at the §6.2 boundaries', async () => {
    const device = await inviteKeyPair();
    // welcome + tree = B - 4 - 8 - 48 fits B exactly; one byte more moves up a bucket.
    const cases: [number, number][] = [
      [1, 1],
      [200, 252],
      [200, 253],
      [1000, 976],
      [1000, 977],
      [4000, 4128],
      [4000, 4129],
      [30000, 35476],
    ];
    for (const [w, t] of cases) {
      const welcome = bytes(w, w);
      const tree = bytes(t, t);
      const { tag, ciphertext } = await sealInvite(device.publicKey, welcome, tree);
      expect(ciphertext.length, `${w}+${t}`).toBe(expectedBucket(w, t));
      const opened = await tryOpenInvite(device.privateKey, tag, ciphertext);
      expect(hex(direct(opened).ratchetTree)).toBe(hex(tree));
    }
    expect(expectedBucket(200, 252)).toBe(512);
    expect(expectedBucket(200, 253)).toBe(2048);
    expect(expectedBucket(30000, 35476)).toBe(65536);
  });

  it('refuses a payload past the largest bucket with PayloadTooLarge, and bad inputs with InvalidInput', async () => {
    const device = await inviteKeyPair();
    // Past the record buckets an invite gets a blob size (§6.5); past those, nothing fits.
    expect((await sealInvite(device.publicKey, bytes(30000), bytes(35477))).ciphertext.length).toBe(131072);
    expect((await outcome(() => sealInvite(device.publicKey, bytes(2_100_000), bytes(1)))).kind).toBe('PayloadTooLarge');
    expect((await outcome(() => sealInvite(device.publicKey, new Uint8Array(0), bytes(1)))).kind).toBe('InvalidInput');
    expect((await outcome(() => sealInvite(device.publicKey.slice(0, 31), bytes(1), bytes(1)))).kind).toBe('InvalidInput');
    // A low-order point (u = 0): no shared secret, so no invite.
    expect((await outcome(() => sealInvite(new Uint8Array(32), bytes(1), bytes(1)))).kind).toBe('InvalidInput');
    // Not an X25519 private key at all.
    const ecdh = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
    expect((await outcome(() => tryOpenInvite(ecdh.privateKey, new Uint8Array(16), new Uint8Array(512)))).kind).toBe('InvalidInput');
  });

  it('turns tampering into undefined (enc, tag, length) or a typed InvalidEnvelope (body), never a wrong plaintext', async () => {
    const device = await inviteKeyPair();
    const welcome = bytes(400, 5);
    const tree = bytes(600, 6);
    const { tag, ciphertext } = await sealInvite(device.publicKey, welcome, tree);
    expect(ciphertext).toHaveLength(2048);
    const flip = (b: Uint8Array, i: number, mask = 0x01) => {
      const c = b.slice();
      c[i]! ^= mask;
      return c;
    };
    const open = (t: Uint8Array, c: Uint8Array) => outcome(() => tryOpenInvite(device.privateKey, t, c));

    // enc: a different point, so a different key schedule, so the tag does not match. The top bit
    // of the last byte is ignored by X25519 itself but still changes kem_context.
    for (const [i, mask] of [[0, 1], [17, 0x40], [31, 0x80]] as const) {
      expect(await open(tag, flip(ciphertext, i, mask)), `enc byte ${i}`).toEqual({ kind: 'ok', value: undefined });
    }
    // tag: the export no longer matches.
    for (const i of [0, 15]) expect(await tryOpenInvite(device.privateKey, flip(tag, i), ciphertext)).toBeUndefined();
    expect(await tryOpenInvite(device.privateKey, tag.slice(0, 15), ciphertext)).toBeUndefined();
    // body: the tag matches, the AEAD refuses.
    for (const i of [32, 33, 1000, 2048 - 16 - 1, 2048 - 16, 2047]) {
      expect((await open(tag, flip(ciphertext, i))).kind, `byte ${i}`).toBe('InvalidEnvelope');
    }
    // length: off a bucket is not an event; onto the next bucket the AEAD refuses.
    expect(await tryOpenInvite(device.privateKey, tag, ciphertext.slice(0, 2047))).toBeUndefined();
    expect(await tryOpenInvite(device.privateKey, tag, new Uint8Array([...ciphertext, 0]))).toBeUndefined();
    expect((await open(tag, ciphertext.slice(0, 512))).kind).toBe('InvalidEnvelope');
    const longer = new Uint8Array(8192);
    longer.set(ciphertext);
    expect((await open(tag, longer)).kind).toBe('InvalidEnvelope');
    // Untouched, it still opens to exactly what was sealed.
    const opened = await tryOpenInvite(device.privateKey, tag, ciphertext);
    expect(hex(direct(opened).welcome)).toBe(hex(welcome));
  });

  it('rejects well-sealed invites whose padding or payload is malformed with InvalidEnvelope', async () => {
    const device = await inviteKeyPair();
    const good = new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 1, 0xcc]);
    const opened = await (async () => {
      const s = await sealRaw(device.publicKey, paddedAround(good));
      return tryOpenInvite(device.privateKey, s.tag, s.ciphertext);
    })();
    expect(hex(direct(opened).welcome)).toBe('aabb');
    expect(hex(direct(opened).ratchetTree)).toBe('cc');

    const nonZeroFill = paddedAround(good);
    nonZeroFill[nonZeroFill.length - 1] = 1;
    const lengthPastEnd = paddedAround(good);
    new DataView(lengthPastEnd.buffer).setUint32(0, lengthPastEnd.length - 3);
    const bad: [string, Uint8Array][] = [
      ['non-zero fill', nonZeroFill],
      ['padded length past the end', lengthPastEnd],
      ['trailing byte after the tree', paddedAround(new Uint8Array([...good, 0xdd]))],
      ['tree length one short', paddedAround(new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0, 0xcc]))],
      ['tree length one long', paddedAround(new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 2, 0xcc]))],
      ['welcome length past the end', paddedAround(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xaa, 0xbb, 0, 0, 0, 1, 0xcc]))],
      ['no tree length', paddedAround(new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb]))],
      ['empty welcome', paddedAround(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 0xcc]))],
      ['empty tree', paddedAround(new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0]))],
      ['empty payload', paddedAround(new Uint8Array(0))],
      ['too short for a prefix', paddedAround(new Uint8Array([0, 0, 0]))],
    ];
    for (const [what, padded] of bad) {
      const s = await sealRaw(device.publicKey, padded);
      expect((await outcome(() => tryOpenInvite(device.privateKey, s.tag, s.ciphertext))).kind, what).toBe('InvalidEnvelope');
    }
  });

  it('returns undefined for random garbage of any length without throwing', async () => {
    const device = await inviteKeyPair();
    const lengths = [0, 1, 16, 31, 32, 33, 48, 100, 511, 512, 513, 1024, 2047, 2048, 2049, 8191, 8192, 8193, 65535, 65536, 65537, 70000];
    for (let i = 0; i < 20; i++) lengths.push(Math.floor(Math.random() * 70001));
    for (let i = 0; i < 30; i++) lengths.push(BUCKETS[i % BUCKETS.length]!);
    for (const length of lengths) {
      for (const tag of [random(16), random(length % 40)]) {
        const result = await outcome(() => tryOpenInvite(device.privateKey, tag, random(length)));
        expect(result, `length ${length}`).toEqual({ kind: 'ok', value: undefined });
      }
    }
    // Low-order and non-canonical encs: X25519 refuses or derives something unrelated; still not ours.
    const lowOrder = [new Uint8Array(32), Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)), new Uint8Array(32).fill(0xff)];
    for (const enc of lowOrder) {
      const ct = new Uint8Array(512);
      ct.set(enc);
      expect(await outcome(() => tryOpenInvite(device.privateKey, random(16), ct))).toEqual({ kind: 'ok', value: undefined });
    }
  });
});

describe('invite bundles (§6.6): one sealed Welcome for every device of an add', () => {
  it('a reference opens to the bundle\'s rkey and key, and the bundle to the Welcome and tree', async () => {
    const device = await inviteKeyPair();
    const welcome = bytes(5000, 3);
    const tree = bytes(90_000, 4);
    const bundle = await sealInviteBundle(welcome, tree);
    expect(bundle.tag).toHaveLength(16);
    expect(bundle.key).toHaveLength(32);
    const reference = await sealInviteReference(device.publicKey, { rkey: '3kabcdefghij2', key: bundle.key });
    // The reference is the smallest bucket whatever the size of the group's tree.
    expect(reference.ciphertext).toHaveLength(512);
    const opened = await tryOpenInvite(device.privateKey, reference.tag, reference.ciphertext);
    if (opened?.kind !== 'bundle') throw new Error('expected a bundle reference');
    expect(opened.rkey).toBe('3kabcdefghij2');
    expect(hex(opened.key)).toBe(hex(bundle.key));
    const inside = await openInviteBundle(opened.key, bundle.tag, bundle.ciphertext);
    expect(hex(inside.welcome)).toBe(hex(welcome));
    expect(hex(inside.ratchetTree)).toBe(hex(tree));
  });

  it('a bundle opens with no other key or tag, and a reference needs a TID and a 32-byte key', async () => {
    const bundle = await sealInviteBundle(bytes(10, 1), bytes(10, 2));
    const otherKey = crypto.getRandomValues(new Uint8Array(32));
    await expect(openInviteBundle(otherKey, bundle.tag, bundle.ciphertext)).rejects.toMatchObject({ code: 'InvalidEnvelope' });
    const otherTag = bundle.tag.slice();
    otherTag[0] = otherTag[0]! ^ 1;
    await expect(openInviteBundle(bundle.key, otherTag, bundle.ciphertext)).rejects.toMatchObject({ code: 'InvalidEnvelope' });
    const device = await inviteKeyPair();
    await expect(sealInviteReference(device.publicKey, { rkey: 'not-a-tid', key: bundle.key })).rejects.toMatchObject({ code: 'InvalidInput' });
    await expect(sealInviteReference(device.publicKey, { rkey: '3kabcdefghij2', key: new Uint8Array(16) })).rejects.toMatchObject({
      code: 'InvalidInput',
    });
  });
});
