import { AtmError } from '../errors';
import { epoch, exportSecret, groupId, type GroupState, type MlsContext } from '../mls';

/** MLS-Exporter labels of docs/protocol.md §6.1 (ASCII, no terminator; empty context). */
export const ENVELOPE_EXPORTER_LABEL = 'atmessaging/v1 envelope';
export const TAG_EXPORTER_LABEL = 'atmessaging/v1 tag';
export const EPOCH_SECRET_LENGTH = 32;

/** The two keys every member of one epoch holds alike (§6.1), and the epoch they belong to. */
export interface EpochKeys {
  groupId: Uint8Array;
  epoch: bigint;
  /** AES-256-GCM, non-extractable: seals and opens envelopes (§6.3). */
  envelopeKey: CryptoKey;
  /** HMAC-SHA256, non-extractable: computes event tags (§6.4). */
  tagKey: CryptoKey;
}

/**
 * Derives the epoch's envelope and tag keys from the MLS exporter. The raw secrets are zeroed once
 * imported: only the non-extractable keys outlive this call, so they go with the epoch's
 * other secrets when the caller drops them.
 */
export async function deriveEpochKeys(ctx: Pick<MlsContext, 'suite'>, state: GroupState): Promise<EpochKeys> {
  const none = new Uint8Array(0);
  const envelopeSecret = await exportSecret(ctx, state, ENVELOPE_EXPORTER_LABEL, none, EPOCH_SECRET_LENGTH);
  const tagSecret = await exportSecret(ctx, state, TAG_EXPORTER_LABEL, none, EPOCH_SECRET_LENGTH);
  try {
    const keys = await importEpochKeys(envelopeSecret, tagSecret);
    return { groupId: groupId(state), epoch: epoch(state), ...keys };
  } finally {
    envelopeSecret.fill(0);
    tagSecret.fill(0);
  }
}

/** The byte-level half of `deriveEpochKeys`: imports two 32-byte secrets as non-extractable keys. */
export async function importEpochKeys(
  envelopeSecret: Uint8Array,
  tagSecret: Uint8Array,
): Promise<{ envelopeKey: CryptoKey; tagKey: CryptoKey }> {
  for (const [what, secret] of [['envelope', envelopeSecret], ['tag', tagSecret]] as const) {
    if (!(secret instanceof Uint8Array) || secret.length !== EPOCH_SECRET_LENGTH) {
      throw new AtmError('InvalidInput', `${what} secret must be ${EPOCH_SECRET_LENGTH} bytes`, {
        what,
        length: secret instanceof Uint8Array ? secret.length : undefined,
      });
    }
  }
  const subtle = globalThis.crypto.subtle;
  // WebCrypto wants ArrayBuffer-backed views; the copies are zeroed as soon as importKey has read
  // them (it copies its input).
  const envelopeBytes = new Uint8Array(envelopeSecret);
  const tagBytes = new Uint8Array(tagSecret);
  try {
    const [envelopeKey, tagKey] = await Promise.all([
      subtle.importKey('raw', envelopeBytes, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
      subtle.importKey('raw', tagBytes, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']),
    ]);
    return { envelopeKey, tagKey };
  } finally {
    envelopeBytes.fill(0);
    tagBytes.fill(0);
  }
}
