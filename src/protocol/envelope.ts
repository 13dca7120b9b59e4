import { bytesEqual } from '../bytes';
import { AtmError } from '../errors';
import { describeMessage } from '../mls';
import type { EpochKeys } from './epoch-keys';
import { isSealedLength, pad, unpad } from './padding';
import { TAG_LENGTH } from './tags';

/**
 * The envelope (docs/protocol.md §6.3): `nonce || AES-256-GCM(envelope_key, nonce,
 * aad = "atmessaging/v1 event" || tag, padded)`. It hides the MLS framing (group id, epoch,
 * content type) from everyone outside the epoch, and its length is always a bucket.
 */
export const ENVELOPE_OVERHEAD = 28;
const NONCE_LENGTH = 12;
const AAD_LABEL = new TextEncoder().encode('atmessaging/v1 event');

/**
 * Seals an MLSMessage under the epoch's envelope key, bound to its tag. Over the largest record
 * bucket the result has a blob size (§6.5) and must travel as a blob; PayloadTooLarge beyond.
 */
export async function sealEnvelope(envelopeKey: CryptoKey, tag: Uint8Array, mlsMessage: Uint8Array): Promise<Uint8Array> {
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_LENGTH) {
    throw new AtmError('InvalidInput', `tag must be ${TAG_LENGTH} bytes`, { length: tag?.length });
  }
  // pad() allocates a fresh ArrayBuffer-backed array.
  const padded = pad(mlsMessage, ENVELOPE_OVERHEAD) as Uint8Array<ArrayBuffer>;
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH));
  const sealed = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: aad(tag), tagLength: 128 },
    envelopeKey,
    padded,
  );
  const out = new Uint8Array(NONCE_LENGTH + sealed.byteLength);
  out.set(nonce);
  out.set(new Uint8Array(sealed), NONCE_LENGTH);
  return out;
}

/**
 * Opens an envelope: InvalidEnvelope for a length that is not a bucket, an AEAD failure (another
 * epoch's key, another tag, any changed bit) or bad padding. Returns the payload, unparsed.
 */
export async function openEnvelope(envelopeKey: CryptoKey, tag: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_LENGTH) {
    throw new AtmError('InvalidEnvelope', `tag is not ${TAG_LENGTH} bytes`, { tagLength: tag?.length });
  }
  if (!(ciphertext instanceof Uint8Array) || !isSealedLength(ciphertext.length)) {
    throw new AtmError('InvalidEnvelope', 'ciphertext length is not a bucket', { length: ciphertext?.length });
  }
  let padded: Uint8Array;
  try {
    padded = new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: ciphertext.slice(0, NONCE_LENGTH), additionalData: aad(tag), tagLength: 128 },
        envelopeKey,
        ciphertext.slice(NONCE_LENGTH),
      ),
    );
  } catch (err) {
    // WebCrypto rejects with OperationError on a tag mismatch; its text says nothing more.
    throw new AtmError('InvalidEnvelope', 'envelope does not open', { length: ciphertext.length }, { cause: err });
  }
  return unpad(padded);
}

/** An envelope's payload once it is known to be a message of the tag's group and epoch. */
export interface EventMessage {
  /** The MLSMessage (PrivateMessage) bytes, for decryptApplicationMessage or processCommit. */
  message: Uint8Array;
  contentType: 'application' | 'proposal' | 'commit';
}

/**
 * Opens an envelope and checks its payload is exactly one strictly decoded MLS PrivateMessage of
 * the group and epoch the keys (hence the tag) belong to (§6.3). An envelope of epoch E can only
 * ever hold a message of epoch E, so a different epoch is a malformed event (InvalidEnvelope),
 * not one to keep for later. Decoding failures are MlsDecode; any other wire format is
 * UnexpectedMessage (a PublicMessage would show sender and content to anyone with the envelope key).
 */
export async function openEventMessage(
  keys: Pick<EpochKeys, 'envelopeKey' | 'groupId' | 'epoch'>,
  tag: Uint8Array,
  ciphertext: Uint8Array,
): Promise<EventMessage> {
  const message = await openEnvelope(keys.envelopeKey, tag, ciphertext);
  const summary = describeMessage(message);
  if (summary.kind !== 'privateMessage') {
    throw new AtmError('UnexpectedMessage', `expected a PrivateMessage in the envelope, got ${summary.kind}`, {
      actual: summary.kind,
    });
  }
  if (!bytesEqual(summary.groupId, keys.groupId)) {
    throw new AtmError('WrongGroup', 'envelope holds a message of another group', { epoch: summary.epoch });
  }
  if (summary.epoch !== keys.epoch) {
    throw new AtmError('InvalidEnvelope', "envelope holds a message of another epoch than its keys'", {
      epoch: summary.epoch,
      keysEpoch: keys.epoch,
    });
  }
  return { message, contentType: summary.contentType };
}

function aad(tag: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(AAD_LABEL.length + tag.length);
  out.set(AAD_LABEL);
  out.set(tag, AAD_LABEL.length);
  return out;
}
