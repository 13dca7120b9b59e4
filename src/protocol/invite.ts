import {
  Aes128Gcm,
  CipherSuite,
  DecapError,
  DeserializeError,
  DhkemX25519HkdfSha256,
  EncapError,
  HkdfSha256,
  type RecipientContext,
} from '@hpke/core';
import { bytesEqual } from '../bytes';
import { AtmError } from '../errors';
import { ENVELOPE_OVERHEAD, openEnvelope, sealEnvelope } from './envelope';
import { bucketFor, isSealedLength, pad, unpad } from './padding';

/**
 * Stealth invites (docs/protocol.md §6.6): a Welcome and its ratchet tree, HPKE-sealed to one
 * device's invite key so that the event looks like any other envelope and names no recipient.
 */

/** `enc` (32) + the AES-128-GCM tag (16): what sealing adds to the padded payload. */
export const INVITE_OVERHEAD = 48;
export const INVITE_TAG_LENGTH = 16;
const ENC_LENGTH = 32;
const LENGTH_PREFIX = 4;

const ascii = (s: string) => new TextEncoder().encode(s);
const INFO = ascii('atmessaging/v1 invite');
const TAG_LABEL = ascii('atmessaging/v1 invite tag');
// The same AAD label as the envelope (§6.3): an invite must not be told apart by its framing.
const EVENT_AAD_LABEL = ascii('atmessaging/v1 event');

// Base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM: suite ids 0x0020, 0x0001, 0x0001.
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

export interface SealedInvite {
  /** The event's tag: Export("atmessaging/v1 invite tag", 16). */
  tag: Uint8Array;
  /** `enc || Seal(...)`, exactly one bucket long. */
  ciphertext: Uint8Array;
}

export interface WelcomeAndTree {
  /** MLSMessage (Welcome) bytes. */
  welcome: Uint8Array;
  /** The ratchet_tree extension body sent beside it. */
  ratchetTree: Uint8Array;
}

/**
 * What an invite holds: the Welcome and tree themselves, or (when one commit adds several
 * devices) where the inviter's repo holds them, sealed once for all under `key` (§6.6).
 */
export type OpenedInvite =
  | ({ kind: 'direct' } & WelcomeAndTree)
  | { kind: 'bundle'; /** rkey of the bundle event in the inviter's repo */ rkey: string; key: Uint8Array };

/** The bundle's record key is a TID: 13 characters of the sortable base32 alphabet. */
const BUNDLE_RKEY = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
const BUNDLE_KEY_LENGTH = 32;
const REFERENCE_LENGTH = LENGTH_PREFIX + 13 + BUNDLE_KEY_LENGTH;

/**
 * Seals a Welcome and its ratchet tree to a device's invite key (the raw X25519 public key of its
 * device record). A fresh ephemeral key per call, so two invites to one device share nothing.
 */
export async function sealInvite(inviteKey: Uint8Array, welcome: Uint8Array, ratchetTree: Uint8Array): Promise<SealedInvite> {
  return sealPayload(inviteKey, encodePayload(welcome, ratchetTree));
}

/**
 * Seals to one device a reference to a bundle (§6.6): the bundle event's rkey in the inviter's
 * repo and the key it was sealed with. Always the smallest bucket, whatever the group's size.
 */
export async function sealInviteReference(inviteKey: Uint8Array, bundle: { rkey: string; key: Uint8Array }): Promise<SealedInvite> {
  if (!BUNDLE_RKEY.test(bundle.rkey) || bundle.key.length !== BUNDLE_KEY_LENGTH) {
    throw new AtmError('InvalidInput', 'a bundle reference needs a TID and a 32-byte key', { keyLength: bundle.key.length });
  }
  const payload = new Uint8Array(REFERENCE_LENGTH); // uint32(0) first: no Welcome is empty
  payload.set(new TextEncoder().encode(bundle.rkey), LENGTH_PREFIX);
  payload.set(bundle.key, LENGTH_PREFIX + 13);
  return sealPayload(inviteKey, payload);
}

export interface SealedBundle extends SealedInvite {
  /** The fresh AES-256 key the bundle is sealed with; only ever sent inside invites. */
  key: Uint8Array;
}

/**
 * Seals a Welcome and its tree once for every device one commit adds (§6.6): an envelope (§6.3)
 * under a fresh random key with a random tag, so the bundle looks like any other event. Each
 * added device gets a small invite naming it, instead of a copy of the Welcome and tree, which
 * grow with the group: the bytes of an add stay linear in the group's size, not quadratic.
 */
export async function sealInviteBundle(welcome: Uint8Array, ratchetTree: Uint8Array): Promise<SealedBundle> {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(BUNDLE_KEY_LENGTH));
  const tag = globalThis.crypto.getRandomValues(new Uint8Array(INVITE_TAG_LENGTH));
  const ciphertext = await sealEnvelope(await bundleKey(key), tag, encodePayload(welcome, ratchetTree, ENVELOPE_OVERHEAD));
  return { tag, ciphertext, key };
}

/** Opens a bundle named by an invite: InvalidEnvelope unless it opens and parses exactly. */
export async function openInviteBundle(key: Uint8Array, tag: Uint8Array, ciphertext: Uint8Array): Promise<WelcomeAndTree> {
  const payload = await openEnvelope(await bundleKey(key), tag, ciphertext);
  const opened = decodePayload(payload);
  if (opened.kind !== 'direct') throw new AtmError('InvalidEnvelope', 'a bundle must hold a Welcome, not a reference');
  return { welcome: opened.welcome, ratchetTree: opened.ratchetTree };
}

function bundleKey(raw: Uint8Array): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

async function sealPayload(inviteKey: Uint8Array, payload: Uint8Array): Promise<SealedInvite> {
  const padded = pad(payload, INVITE_OVERHEAD);
  let sender;
  try {
    const recipientPublicKey = await suite.kem.deserializePublicKey(inviteKey);
    sender = await suite.createSenderContext({ recipientPublicKey, info: INFO });
  } catch (error) {
    // Wrong length, or a low-order point whose shared secret WebCrypto refuses.
    if (error instanceof DeserializeError || error instanceof EncapError) {
      throw new AtmError('InvalidInput', 'the invite key is not a usable X25519 public key', { length: inviteKey.length }, { cause: error });
    }
    throw error;
  }
  const tag = new Uint8Array(await sender.export(TAG_LABEL, INVITE_TAG_LENGTH));
  const sealed = new Uint8Array(await sender.seal(padded, concat(EVENT_AAD_LABEL, tag)));
  return { tag, ciphertext: concat(new Uint8Array(sender.enc), sealed) };
}

/**
 * Tries an event whose tag we do not recognise as an invite to us. Undefined means "not for us"
 * (the common case: one X25519 and a few HKDF calls, never a throw); a typed InvalidEnvelope means
 * the tag proves the event was sealed to our key, yet it does not open or parse: a forgery or a bug.
 */
export async function tryOpenInvite(
  invitePrivateKey: CryptoKey,
  tag: Uint8Array,
  ciphertext: Uint8Array,
): Promise<OpenedInvite | undefined> {
  // A non-bucket length is not an event at all (§6.3); no need to spend a DH on it.
  if (tag.length !== INVITE_TAG_LENGTH || !isSealedLength(ciphertext.length)) return undefined;
  const recipientKey = await invitePair(invitePrivateKey);
  let context: RecipientContext;
  try {
    context = await suite.createRecipientContext({ recipientKey, enc: ciphertext.subarray(0, ENC_LENGTH), info: INFO });
  } catch (error) {
    // Our key was checked in invitePair, so this is the enc: a low-order point cannot be for us.
    if (error instanceof DecapError || error instanceof DeserializeError) return undefined;
    throw error;
  }
  const expected = new Uint8Array(await context.export(TAG_LABEL, INVITE_TAG_LENGTH));
  if (!bytesEqual(expected, tag)) return undefined;

  let padded: Uint8Array;
  try {
    padded = new Uint8Array(await context.open(ciphertext.subarray(ENC_LENGTH), concat(EVENT_AAD_LABEL, tag)));
  } catch (error) {
    throw new AtmError('InvalidEnvelope', 'invite tag matches but the ciphertext does not open', { length: ciphertext.length }, { cause: error });
  }
  return decodePayload(unpad(padded));
}

// The payload is `uint32(len(welcome)) || welcome || uint32(len(tree)) || tree`; neither part is
// ever empty (an MLSMessage and a ratchet tree both encode to at least one byte), so a payload
// starting with uint32(0) is a bundle reference: `uint32(0) || rkey (13 ASCII) || key (32)`.
function encodePayload(welcome: Uint8Array, ratchetTree: Uint8Array, overhead = INVITE_OVERHEAD): Uint8Array {
  if (welcome.length === 0 || ratchetTree.length === 0) {
    throw new AtmError('InvalidInput', 'an invite needs a Welcome and a ratchet tree', {
      welcome: welcome.length,
      ratchetTree: ratchetTree.length,
    });
  }
  const length = 2 * LENGTH_PREFIX + welcome.length + ratchetTree.length;
  if (bucketFor(length, overhead) === undefined) {
    throw new AtmError('PayloadTooLarge', 'the Welcome and ratchet tree do not fit the largest blob bucket', {
      welcome: welcome.length,
      ratchetTree: ratchetTree.length,
    });
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, welcome.length);
  out.set(welcome, LENGTH_PREFIX);
  view.setUint32(LENGTH_PREFIX + welcome.length, ratchetTree.length);
  out.set(ratchetTree, 2 * LENGTH_PREFIX + welcome.length);
  return out;
}

function decodePayload(payload: Uint8Array): OpenedInvite {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const invalid = (reason: string) =>
    new AtmError('InvalidEnvelope', `invite payload is malformed: ${reason}`, { length: payload.length });
  if (payload.length < 2 * LENGTH_PREFIX) throw invalid('too short');
  const welcomeLength = view.getUint32(0);
  if (welcomeLength === 0) {
    if (payload.length !== REFERENCE_LENGTH) throw invalid('bundle reference length');
    const rkey = new TextDecoder().decode(payload.subarray(LENGTH_PREFIX, LENGTH_PREFIX + 13));
    if (!BUNDLE_RKEY.test(rkey)) throw invalid('bundle record key');
    return { kind: 'bundle', rkey, key: payload.slice(LENGTH_PREFIX + 13) };
  }
  const treeAt = LENGTH_PREFIX + welcomeLength;
  if (welcomeLength === 0 || treeAt + LENGTH_PREFIX > payload.length) throw invalid('Welcome length');
  const treeLength = view.getUint32(treeAt);
  if (treeLength === 0 || treeAt + LENGTH_PREFIX + treeLength !== payload.length) throw invalid('ratchet tree length');
  return {
    kind: 'direct',
    welcome: payload.slice(LENGTH_PREFIX, treeAt),
    ratchetTree: payload.slice(treeAt + LENGTH_PREFIX),
  };
}

/**
 * HPKE's Decap needs our public key too (it is in kem_context). Given only a non-extractable
 * private key, @hpke/core would recompute it with a second X25519 on every candidate event; we
 * compute it once per key object (X25519 with the base point, u = 9) and hand over the pair.
 */
const pairs = new WeakMap<CryptoKey, Promise<CryptoKeyPair>>();

function invitePair(privateKey: CryptoKey): Promise<CryptoKeyPair> {
  let pair = pairs.get(privateKey);
  if (!pair) {
    pair = derivePair(privateKey);
    pairs.set(privateKey, pair);
    // A failure is not cached: the next call reports it again.
    pair.catch(() => pairs.delete(privateKey));
  }
  return pair;
}

async function derivePair(privateKey: CryptoKey): Promise<CryptoKeyPair> {
  if (privateKey.type !== 'private' || privateKey.algorithm.name !== 'X25519' || !privateKey.usages.includes('deriveBits')) {
    throw new AtmError('InvalidInput', 'the invite key is not an X25519 private key usable for deriveBits', {
      type: privateKey.type,
      algorithm: privateKey.algorithm.name,
    });
  }
  const subtle = globalThis.crypto.subtle;
  const basePoint = new Uint8Array(32);
  basePoint[0] = 9;
  try {
    const base = await subtle.importKey('raw', basePoint, { name: 'X25519' }, true, []);
    const raw = await subtle.deriveBits({ name: 'X25519', public: base }, privateKey, 256);
    const publicKey = await subtle.importKey('raw', raw, { name: 'X25519' }, true, []);
    return { privateKey, publicKey };
  } catch (error) {
    throw new AtmError('InvalidInput', 'cannot derive the invite public key', {}, { cause: error });
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
