import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, toHex } from '../bytes';
import { AtmError } from '../errors';
import { isDid, parseDeviceUri } from './device-uri';

/**
 * Safety numbers (docs/protocol.md §9), after Signal's numeric fingerprints: each DID has a
 * fingerprint over the set of device keys it publishes, and two people compare one number made
 * of both fingerprints. A device added, removed or re-keyed changes its owner's fingerprint.
 */

/** One published device: its record's AT-URI (the credential identity) and its Ed25519 key. */
export interface DeviceKey {
  uri: string;
  signatureKey: Uint8Array;
}

export const SAFETY_NUMBER_VERSION = 1;
/** SHA-512 rounds after the first, as Signal: slows a search for a colliding key set. */
export const FINGERPRINT_ITERATIONS = 5200;
export const FINGERPRINT_LENGTH = 32;
/** Digits per fingerprint: 6 chunks of 5 bytes, 5 digits each. */
const CHUNKS = 6;
const QR_PREFIX = `ATMESSAGING:SAFETY-NUMBER:${SAFETY_NUMBER_VERSION}:`;
const QR_PATTERN = /^ATMESSAGING:SAFETY-NUMBER:([0-9]{1,5}):([0-9A-F]{64}):([0-9A-F]{64})$/;

const LABEL = new TextEncoder().encode('atmessaging/v1 safety number');
const MAX_DEVICES = 1024;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function uint16(n: number): Uint8Array {
  return new Uint8Array([n >>> 8, n & 0xff]);
}

function uint32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Bytewise unsigned order (memcmp). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * `uint32(n) || for each device, by URI: uint16(len(uri)) || uri || signature_key`. Every URI
 * must name a device record of `did`, once; order of the input does not matter.
 */
export function deviceKeySet(did: string, devices: readonly DeviceKey[]): Uint8Array {
  if (!isDid(did)) throw new AtmError('InvalidInput', 'not a DID', { did });
  if (devices.length > MAX_DEVICES) throw new AtmError('InvalidInput', 'too many devices', { count: devices.length });
  const encoder = new TextEncoder();
  const seen = new Set<string>();
  for (const d of devices) {
    if (parseDeviceUri(d.uri).did !== did) {
      throw new AtmError('InvalidInput', 'device belongs to another DID', { did, uri: d.uri });
    }
    if (!(d.signatureKey instanceof Uint8Array) || d.signatureKey.length !== 32) {
      throw new AtmError('InvalidInput', 'signature key is not 32 bytes', { uri: d.uri });
    }
    if (seen.has(d.uri)) throw new AtmError('InvalidInput', 'device listed twice', { uri: d.uri });
    seen.add(d.uri);
  }
  // URIs are ASCII (DID and TID syntax), so UTF-16 order is byte order.
  const sorted = [...devices].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return concat([
    uint32(sorted.length),
    ...sorted.flatMap((d) => {
      const uri = encoder.encode(d.uri);
      return [uint16(uri.length), uri, d.signatureKey];
    }),
  ]);
}

/**
 * `K = SHA-512(key_set)`, `H_0 = SHA-512(label || uint16(len(did)) || did || K)`,
 * `H_i = SHA-512(H_{i-1} || K)` for i = 1..5200; the fingerprint is `H_5200[0..32]`. Rounds
 * hash the key set's digest, not the set, so the cost does not grow with the device count.
 */
export function fingerprint(did: string, devices: readonly DeviceKey[]): Uint8Array {
  const keys = sha512(deviceKeySet(did, devices));
  const didBytes = new TextEncoder().encode(did);
  let hash = sha512(concat([LABEL, uint16(didBytes.length), didBytes, keys]));
  // One buffer for every round: the previous hash in front, the key-set digest behind it.
  const round = new Uint8Array(hash.length + keys.length);
  round.set(keys, hash.length);
  for (let i = 0; i < FINGERPRINT_ITERATIONS; i++) {
    round.set(hash, 0);
    hash = sha512(round);
  }
  return hash.slice(0, FINGERPRINT_LENGTH);
}

/** 30 digits: each 5-byte chunk of the fingerprint's first 30 bytes, big-endian, mod 100000. */
export function fingerprintDigits(fp: Uint8Array): string {
  if (fp.length !== FINGERPRINT_LENGTH) throw new AtmError('InvalidInput', 'not a fingerprint', { length: fp.length });
  let out = '';
  for (let c = 0; c < CHUNKS; c++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + fp[c * 5 + i]!;
    out += String(value % 100_000).padStart(5, '0');
  }
  return out;
}

export interface SafetyNumber {
  /** 12 groups of 5 digits: the halves of both fingerprints, lower fingerprint first. */
  groups: string[];
  /** Text of the QR code: versioned, both fingerprints in the same order (§9.3). */
  qr: string;
}

function ordered(a: Uint8Array, b: Uint8Array): [Uint8Array, Uint8Array] {
  if (a.length !== FINGERPRINT_LENGTH || b.length !== FINGERPRINT_LENGTH) {
    throw new AtmError('InvalidInput', 'not a fingerprint');
  }
  if (bytesEqual(a, b)) throw new AtmError('InvalidInput', 'a safety number needs two different fingerprints');
  return compareBytes(a, b) < 0 ? [a, b] : [b, a];
}

/** The number both parties compute identically: the two fingerprints, sorted. */
export function safetyNumber(a: Uint8Array, b: Uint8Array): SafetyNumber {
  const [first, second] = ordered(a, b);
  const digits = fingerprintDigits(first) + fingerprintDigits(second);
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  const hex = (fp: Uint8Array) => toHex(fp).toUpperCase();
  return { groups, qr: `${QR_PREFIX}${hex(first)}:${hex(second)}` };
}

/**
 * Compares a scanned QR text with ours. `unsupported` for a well-formed code of another version
 * (the scanner says "update"), `mismatch` for anything else that is not exactly ours.
 */
export function compareSafetyQr(scanned: string, ours: SafetyNumber): 'match' | 'mismatch' | 'unsupported' {
  const m = QR_PATTERN.exec(scanned);
  if (!m) return 'mismatch';
  if (Number(m[1]) !== SAFETY_NUMBER_VERSION) return 'unsupported';
  // Fingerprints are public: a plain comparison of the canonical text is enough.
  return scanned === ours.qr ? 'match' : 'mismatch';
}
