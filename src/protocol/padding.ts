import { AtmError } from '../errors';

/**
 * Every event ciphertext has one of these lengths (docs/protocol.md §6.2), so its size says
 * little about what it carries.
 */
export const BUCKETS = [512, 2048, 8192, 65536] as const;
export const LARGEST_BUCKET = BUCKETS[BUCKETS.length - 1]!;

/**
 * Sizes of envelopes too large for a record (§6.5), uploaded as blobs: powers of two up to
 * 2 MiB (the event lexicon allows blobs up to 4 MB). A 1,000-member Welcome with its tree fits.
 */
export const BLOB_BUCKETS = [131072, 262144, 524288, 1048576, 2097152] as const;

/** Every length an event's sealed bytes may have: a record bucket or a blob bucket. */
export function isSealedLength(length: number): boolean {
  return (BUCKETS as readonly number[]).includes(length) || (BLOB_BUCKETS as readonly number[]).includes(length);
}

export function isBlobSized(length: number): boolean {
  return (BLOB_BUCKETS as readonly number[]).includes(length);
}

const LENGTH_PREFIX = 4;

/** The bucket a payload of `length` bytes lands in, given the sealing's overhead; undefined if none fits. */
export function bucketFor(length: number, overhead: number): number | undefined {
  const fits = (b: number) => LENGTH_PREFIX + length + overhead <= b;
  return BUCKETS.find(fits) ?? BLOB_BUCKETS.find(fits);
}

/**
 * `uint32(len(m)) || m || zeros` up to `bucket - overhead` bytes. The fill is zeros: it is
 * encrypted, so its value is invisible, and zeros let the reader check it strictly.
 */
export function pad(message: Uint8Array, overhead: number, bucket = bucketFor(message.length, overhead)): Uint8Array {
  if (bucket === undefined || LENGTH_PREFIX + message.length + overhead > bucket) {
    throw new AtmError('PayloadTooLarge', 'payload does not fit the bucket', {
      length: message.length,
      bucket,
    });
  }
  const out = new Uint8Array(bucket - overhead);
  new DataView(out.buffer).setUint32(0, message.length);
  out.set(message, LENGTH_PREFIX);
  return out;
}

/** The payload of a padded plaintext; rejects a length past the end or a non-zero fill. */
export function unpad(padded: Uint8Array): Uint8Array {
  if (padded.length < LENGTH_PREFIX) throw new AtmError('InvalidEnvelope', 'padded plaintext too short');
  const length = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  if (length > padded.length - LENGTH_PREFIX) {
    throw new AtmError('InvalidEnvelope', 'length field exceeds the plaintext', { length });
  }
  for (let i = LENGTH_PREFIX + length; i < padded.length; i++) {
    if (padded[i] !== 0) throw new AtmError('InvalidEnvelope', 'padding is not zero');
  }
  return padded.slice(LENGTH_PREFIX, LENGTH_PREFIX + length);
}
