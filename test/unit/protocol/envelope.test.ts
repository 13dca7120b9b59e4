import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isAtmError } from '../../../src/errors';
import {
  decryptApplicationMessage,
  encryptApplicationMessage,
  exportSecret,
  ownLeafIndex,
  processCommit,
  selfUpdate,
} from '../../../src/mls';
import { ENVELOPE_OVERHEAD, openEnvelope, openEventMessage, sealEnvelope } from '../../../src/protocol/envelope';
import { deriveEpochKeys, importEpochKeys, type EpochKeys } from '../../../src/protocol/epoch-keys';
import { BUCKETS, pad } from '../../../src/protocol/padding';
import { consumeTag, createTagWindow, eventTag, matchTag } from '../../../src/protocol/tags';
import { buildGroup, everyoneProcesses, hex, text, utf8 } from '../mls/helpers';

const envelopeSecret = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
const tagA = Uint8Array.from({ length: 16 }, (_, i) => i);
const tagB = Uint8Array.from({ length: 16 }, (_, i) => 0x80 + i);
const AAD_LABEL = 'atmessaging/v1 event';

async function envelopeKeyOf(secret: Uint8Array): Promise<CryptoKey> {
  return (await importEpochKeys(secret, new Uint8Array(32))).envelopeKey;
}

async function code(op: () => Promise<unknown>): Promise<string> {
  try {
    await op();
    return 'ok';
  } catch (err) {
    return isAtmError(err) ? err.code : `untyped: ${String(err)}`;
  }
}

const message = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);

/** §6.3 sealing written out by hand over any plaintext, so a test can build well-sealed but malformed envelopes. */
async function sealRaw(secret: Uint8Array, tag: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(secret), 'AES-GCM', false, ['encrypt']);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const aad = new Uint8Array([...new TextEncoder().encode(AAD_LABEL), ...tag]);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, key, new Uint8Array(plaintext)),
  );
  return new Uint8Array([...nonce, ...sealed]);
}

describe('sealEnvelope / openEnvelope (§6.3)', () => {
  it('round-trips payloads of every bucket, and the ciphertext length is exactly the bucket', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const cases: [number, number][] = [
      [0, 512],
      [1, 512],
      [512 - 4 - ENVELOPE_OVERHEAD, 512],
      [512 - 4 - ENVELOPE_OVERHEAD + 1, 2048],
      [512, 2048],
      [2048 - 32, 2048],
      [2048 - 31, 8192],
      [2048, 8192],
      [8192 - 32, 8192],
      [8192 - 31, 65536],
      [8192, 65536],
      [65536 - 32, 65536],
    ];
    for (const [length, bucket] of cases) {
      const m = message(length);
      const ciphertext = await sealEnvelope(key, tagA, m);
      expect(ciphertext.length, `payload of ${length} bytes`).toBe(bucket);
      expect(await openEnvelope(key, tagA, ciphertext)).toEqual(m);
    }
    expect(new Set(cases.map(([, b]) => b))).toEqual(new Set(BUCKETS));
  });

  it('is nonce || AES-256-GCM(aad = label || tag) over pad(m, 28), checked with node:crypto', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const m = utf8('hello, envelope');
    const ciphertext = await sealEnvelope(key, tagA, m);
    const decipher = createDecipheriv('aes-256-gcm', envelopeSecret, ciphertext.subarray(0, 12));
    decipher.setAAD(Buffer.concat([Buffer.from(AAD_LABEL, 'ascii'), tagA]));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    const padded = Buffer.concat([decipher.update(ciphertext.subarray(12, ciphertext.length - 16)), decipher.final()]);
    expect(new Uint8Array(padded)).toEqual(pad(m, 28));
    expect(padded.readUInt32BE(0)).toBe(m.length);
  });

  it('uses a fresh nonce: sealing the same message twice gives different ciphertexts', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const m = message(100);
    const seen = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const c = await sealEnvelope(key, tagA, m);
      seen.add(hex(c));
      nonces.add(hex(c.subarray(0, 12)));
    }
    expect(seen.size).toBe(8);
    expect(nonces.size).toBe(8);
  });

  it('rejects a changed bit anywhere: nonce, body, GCM tag', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const ciphertext = await sealEnvelope(key, tagA, message(300));
    for (const index of [0, 11, 12, 200, ciphertext.length - 17, ciphertext.length - 1]) {
      const tampered = ciphertext.slice();
      tampered[index]! ^= 0x01;
      expect(await code(() => openEnvelope(key, tagA, tampered)), `byte ${index}`).toBe('InvalidEnvelope');
    }
  });

  it('rejects another key and another tag (the tag is bound by the AAD)', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const otherKey = await envelopeKeyOf(new Uint8Array(32).fill(9));
    const ciphertext = await sealEnvelope(key, tagA, message(10));
    expect(await code(() => openEnvelope(otherKey, tagA, ciphertext))).toBe('InvalidEnvelope');
    expect(await code(() => openEnvelope(key, tagB, ciphertext))).toBe('InvalidEnvelope');
    expect(await code(() => openEnvelope(key, tagA.subarray(0, 15), ciphertext))).toBe('InvalidEnvelope');
    expect(await openEnvelope(key, tagA, ciphertext)).toEqual(message(10));
  });

  it('rejects truncated and extended ciphertexts, whether or not the new length is a bucket', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const small = await sealEnvelope(key, tagA, message(10));
    const large = await sealEnvelope(key, tagA, message(1000));
    expect(large.length).toBe(2048);
    const variants: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one byte short', small.subarray(0, 511)],
      ['one byte more', new Uint8Array([...small, 0])],
      ['nonce only', small.subarray(0, 12)],
      ['cut to a smaller bucket', large.subarray(0, 512)],
      ['zero-extended to a larger bucket', new Uint8Array([...small, ...new Uint8Array(2048 - 512)])],
      ['a bucket of zeros', new Uint8Array(512)],
      ['largest bucket plus one', new Uint8Array(65537)],
    ];
    for (const [what, ciphertext] of variants) {
      expect(await code(() => openEnvelope(key, tagA, ciphertext)), what).toBe('InvalidEnvelope');
    }
  });

  it('rejects a well-sealed ciphertext whose length is not a bucket', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const offBucket = await sealRaw(envelopeSecret, tagA, pad(message(20), 28, 1024));
    expect(offBucket.length).toBe(1024);
    expect(await code(() => openEnvelope(key, tagA, offBucket))).toBe('InvalidEnvelope');
    const onBucket = await sealRaw(envelopeSecret, tagA, pad(message(20), 28, 2048));
    expect(await openEnvelope(key, tagA, onBucket)).toEqual(message(20));
  });

  it('rejects bad padding inside a valid AEAD: length past the end, non-zero fill', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    const good = pad(message(20), 28);
    expect(await openEnvelope(key, tagA, await sealRaw(envelopeSecret, tagA, good))).toEqual(message(20));
    const tooLong = good.slice();
    new DataView(tooLong.buffer).setUint32(0, tooLong.length - 3);
    expect(await code(async () => openEnvelope(key, tagA, await sealRaw(envelopeSecret, tagA, tooLong)))).toBe(
      'InvalidEnvelope',
    );
    const dirty = good.slice();
    dirty[dirty.length - 1] = 0x80;
    expect(await code(async () => openEnvelope(key, tagA, await sealRaw(envelopeSecret, tagA, dirty)))).toBe(
      'InvalidEnvelope',
    );
  });

  it('refuses a payload larger than the largest bucket, and a tag that is not 16 bytes', async () => {
    const key = await envelopeKeyOf(envelopeSecret);
    // Past the record buckets the envelope gets a blob size (§6.5); past those, nothing fits.
    expect((await sealEnvelope(key, tagA, message(65536 - 31))).length).toBe(131072);
    expect(await code(() => sealEnvelope(key, tagA, message(2097152 - 31)))).toBe('PayloadTooLarge');
    expect(await code(() => sealEnvelope(key, new Uint8Array(15), message(1)))).toBe('InvalidInput');
    expect(await code(() => sealEnvelope(key, new Uint8Array(17), message(1)))).toBe('InvalidInput');
  });
});

describe('epoch keys and events in a real 2-member MLS group', () => {
  async function twoMembers() {
    const fx = await buildGroup(['alice', 'bob']);
    const [alice, bob] = fx.states as [(typeof fx.states)[0], (typeof fx.states)[0]];
    return { fx, alice, bob };
  }

  it('derives the keys from the §6.1 exporter labels, equal for both members', async () => {
    const { fx, alice, bob } = await twoMembers();
    const none = new Uint8Array(0);
    for (const label of ['atmessaging/v1 envelope', 'atmessaging/v1 tag']) {
      const a = await exportSecret(fx.ctx, alice, label, none, 32);
      expect(await exportSecret(fx.ctx, bob, label, none, 32)).toEqual(a);
    }
    const [envelopeSecret, tagSecret] = await Promise.all(
      ['atmessaging/v1 envelope', 'atmessaging/v1 tag'].map((l) => exportSecret(fx.ctx, alice, l, none, 32)),
    );
    expect(envelopeSecret).not.toEqual(tagSecret);
    const byHand = await importEpochKeys(envelopeSecret!, tagSecret!);
    const aliceKeys = await deriveEpochKeys(fx.ctx, alice);
    const bobKeys = await deriveEpochKeys(fx.ctx, bob);
    expect(aliceKeys.epoch).toBe(1n);
    expect(bobKeys.epoch).toBe(1n);
    expect(hex(aliceKeys.groupId)).toBe(hex(bobKeys.groupId));
    expect(hex(aliceKeys.groupId)).toBe(hex(alice.groupContext.groupId));
    for (const k of [aliceKeys.envelopeKey, aliceKeys.tagKey]) expect(k.extractable).toBe(false);
    expect(aliceKeys.envelopeKey.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    expect(aliceKeys.tagKey.algorithm).toMatchObject({ name: 'HMAC', hash: { name: 'SHA-256' } });
    // Same tags, and each member opens what the other (and the hand-derived key) sealed.
    expect(await eventTag(bobKeys.tagKey, 0, 9)).toEqual(await eventTag(aliceKeys.tagKey, 0, 9));
    expect(await eventTag(byHand.tagKey, 0, 9)).toEqual(await eventTag(aliceKeys.tagKey, 0, 9));
    const sealed = await sealEnvelope(aliceKeys.envelopeKey, tagA, utf8('x'));
    expect(text(await openEnvelope(bobKeys.envelopeKey, tagA, sealed))).toBe('x');
    expect(text(await openEnvelope(byHand.envelopeKey, tagA, sealed))).toBe('x');
  });

  it('carries an application message from alice to bob, once', async () => {
    const { fx, alice, bob } = await twoMembers();
    const aliceKeys = await deriveEpochKeys(fx.ctx, alice);
    const bobKeys = await deriveEpochKeys(fx.ctx, bob);
    const aliceLeaf = ownLeafIndex(alice);

    const sent = await encryptApplicationMessage(fx.ctx, alice, utf8('hi bob'));
    const tag = await eventTag(aliceKeys.tagKey, aliceLeaf, 0);
    const ciphertext = await sealEnvelope(aliceKeys.envelopeKey, tag, sent.message);
    expect(ciphertext.length).toBe(512);

    let window = await createTagWindow(bobKeys.tagKey, [0, 1]);
    const match = matchTag(window, tag);
    expect(match).toEqual({ leaf: aliceLeaf, counter: 0 });
    const event = await openEventMessage(bobKeys, tag, ciphertext);
    expect(event.contentType).toBe('application');
    expect(event.message).toEqual(sent.message);
    const received = await decryptApplicationMessage(fx.ctx, bob, event.message);
    expect(text(received.plaintext)).toBe('hi bob');
    expect(received.sender.leafIndex).toBe(match!.leaf);
    window = await consumeTag(bobKeys.tagKey, window, match!);
    // The same event again: its tag is no longer recognised.
    expect(matchTag(window, tag)).toBeUndefined();
  });

  it('after a commit, the old epoch keys open no new envelopes and tags move on', async () => {
    const { fx, alice, bob } = await twoMembers();
    const old = await deriveEpochKeys(fx.ctx, bob);
    const update = await selfUpdate(fx.ctx, alice);
    // The commit itself travels in an envelope of the epoch it commits from.
    const commitTag = await eventTag(old.tagKey, ownLeafIndex(alice), 0);
    const commitEvent = await openEventMessage(old, commitTag, await sealEnvelope(old.envelopeKey, commitTag, update.commit));
    expect(commitEvent.contentType).toBe('commit');
    const bob2 = (await processCommit(fx.ctx, bob, commitEvent.message)).newState;
    const alice2 = update.newState;

    const aliceKeys2 = await deriveEpochKeys(fx.ctx, alice2);
    const bobKeys2 = await deriveEpochKeys(fx.ctx, bob2);
    expect(bobKeys2.epoch).toBe(2n);
    const sent = await encryptApplicationMessage(fx.ctx, alice2, utf8('epoch two'));
    const tag = await eventTag(aliceKeys2.tagKey, ownLeafIndex(alice2), 0);
    const ciphertext = await sealEnvelope(aliceKeys2.envelopeKey, tag, sent.message);

    expect(tag).not.toEqual(await eventTag(old.tagKey, ownLeafIndex(alice2), 0));
    expect(matchTag(await createTagWindow(old.tagKey, [0, 1]), tag)).toBeUndefined();
    expect(await code(() => openEnvelope(old.envelopeKey, tag, ciphertext))).toBe('InvalidEnvelope');
    expect(await code(() => openEventMessage(old, tag, ciphertext))).toBe('InvalidEnvelope');
    const event = await openEventMessage(bobKeys2, tag, ciphertext);
    expect(text((await decryptApplicationMessage(fx.ctx, bob2, event.message)).plaintext)).toBe('epoch two');
  });

  it('refuses a payload of another epoch, another group, another kind, or not MLS at all', async () => {
    const { fx, alice, bob } = await twoMembers();
    const keys1 = await deriveEpochKeys(fx.ctx, alice);
    const epoch1Message = (await encryptApplicationMessage(fx.ctx, alice, utf8('one'))).message;
    const states2 = await everyoneProcesses(fx.ctx, [alice, bob], 0, await selfUpdate(fx.ctx, alice));
    const keys2 = await deriveEpochKeys(fx.ctx, states2[0]!);
    const open = (keys: EpochKeys, payload: Uint8Array) =>
      code(async () => openEventMessage(keys, tagA, await sealEnvelope(keys.envelopeKey, tagA, payload)));

    expect(await open(keys1, epoch1Message)).toBe('ok');
    // An epoch-1 message sealed under epoch-2 keys, and the reverse.
    expect(await open(keys2, epoch1Message)).toBe('InvalidEnvelope');
    const epoch2Message = (await encryptApplicationMessage(fx.ctx, states2[0]!, utf8('two'))).message;
    expect(await open(keys1, epoch2Message)).toBe('InvalidEnvelope');
    // A message of another group (also at epoch 1) under this group's keys.
    const other = await buildGroup(['carol', 'dave']);
    const foreign = (await encryptApplicationMessage(other.ctx, other.states[0]!, utf8('elsewhere'))).message;
    expect(await open(keys1, foreign)).toBe('WrongGroup');
    // A Welcome is not a group message; nor are bytes that do not decode, or carry trailing bytes.
    expect(await open(keys1, fx.add.welcome)).toBe('UnexpectedMessage');
    expect(await open(keys1, utf8('not an MLS message'))).toBe('MlsDecode');
    expect(await open(keys1, new Uint8Array([...epoch1Message, 0]))).toBe('MlsDecode');
    expect(await open(keys1, new Uint8Array(0))).toBe('MlsDecode');
  });
});
