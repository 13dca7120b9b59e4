import { MlsError as TsMlsError } from 'ts-mls/mlsError.js';
import { AtmError } from '../errors';

/**
 * Why the MLS layer refused an input or an operation. Callers branch on `code`, never on text.
 * Every code here is also an `AtmErrorCode` (src/errors.ts).
 */
export type MlsErrorCode =
  /** Bytes are not a well-formed TLS encoding of what was expected (garbage, truncated, trailing). */
  | 'MlsDecode'
  /** A well-formed message of the wrong kind here (e.g. a Welcome given to decrypt, a proposal). */
  | 'UnexpectedMessage'
  /** The message names another group: route by group id before calling the MLS layer. */
  | 'WrongGroup'
  /** The message is from an epoch whose keys this member no longer holds (or a commit for a past epoch). */
  | 'StaleEpoch'
  /** The message is from an epoch this member has not reached yet: keep it and retry after a commit. */
  | 'FutureEpoch'
  /** Our Authentication Service refused a credential (or it is not a device AT-URI basic credential). */
  | 'UntrustedCredential'
  /** A KeyPackage's lifetime does not contain the current time. */
  | 'KeyPackageExpired'
  /** A KeyPackage, Welcome or group uses a cipher suite other than ours. */
  | 'UnsupportedCipherSuite'
  /** This member was removed from the group (or a leaf index names no member). */
  | 'NotMember'
  /** The Welcome holds no secrets for the given KeyPackage. */
  | 'WelcomeNotForUs'
  /** MLS validation failed: bad signature, confirmation tag, AEAD, replayed generation, bad proposals. */
  | 'MlsRejected'
  /** A caller passed an argument the MLS layer cannot use (a programming error, not bad input). */
  | 'InvalidInput';

/** An `AtmError` raised by the MLS layer; its codes are a subset of the shared union. */
export class MlsLayerError extends AtmError {
  override readonly name: string = 'MlsLayerError';
  declare readonly code: MlsErrorCode;
  constructor(
    code: MlsErrorCode,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, context, options);
  }
}

export function isMlsLayerError(value: unknown, code?: MlsErrorCode): value is MlsLayerError {
  return value instanceof MlsLayerError && (code === undefined || value.code === code);
}

/** ts-mls 1.6.4's text for a lifetime failure; pinned by a unit test. */
export const TS_MLS_LIFETIME_MESSAGE = 'Current time not within Lifetime';

/**
 * Translates what ts-mls (or WebCrypto / HPKE underneath it) threw during an MLS operation into
 * our codes. Errors thrown by an injected service (e.g. the Authentication Service being offline)
 * are passed in as `passThrough` and come back unchanged, so the caller can tell "refused" from
 * "could not check". Everything else that escapes ts-mls was caused by the input it was given.
 */
export function toMlsLayerError(err: unknown, operation: string, passThrough?: unknown): unknown {
  if (err instanceof MlsLayerError) return err;
  if (passThrough !== undefined && err === passThrough) return err;
  const kind = err instanceof Error ? err.name : typeof err;
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof TsMlsError && kind === 'CodecError') {
    return new MlsLayerError('MlsDecode', `${operation}: ${detail}`, { operation, kind }, { cause: err });
  }
  // ts-mls 1.6.4 re-checks the lifetime of KeyPackages we commit with Date.now()
  // (clientState.js validateLeafNodeKeyPackage); we check with the injected clock first, so this
  // only fires when the system clock disagrees. Its error class is the generic ValidationError.
  if (err instanceof TsMlsError && detail === TS_MLS_LIFETIME_MESSAGE) {
    return new MlsLayerError('KeyPackageExpired', `${operation}: key package is outside its lifetime by the system clock`, {
      operation,
      kind,
    }, { cause: err });
  }
  // ValidationError, CryptoVerificationError, UsageError from ts-mls; OperationError (AES-GCM tag
  // mismatch) from WebCrypto; OpenError/DecapError from HPKE.
  return new MlsLayerError('MlsRejected', `${operation}: ${detail}`, { operation, kind }, { cause: err });
}
