/**
 * One error hierarchy for the whole extension. Callers branch on `code`, never on message text,
 * and `context` carries the offending value's description (never secrets or plaintext).
 */
export type AtmErrorCode =
  // RPC between extension contexts
  | 'BadRequest'
  | 'UnknownMethod'
  | 'Forbidden'
  | 'Disconnected'
  | 'Timeout'
  | 'Internal'
  // Input validation
  | 'InvalidConvoId'
  | 'InvalidRecord'
  // Network and identity (src/atproto)
  | 'Network'
  | 'PayloadTooLarge'
  | 'InvalidDid'
  | 'DidNotFound'
  | 'InvalidDidDocument'
  // Authentication Service
  | 'InvalidCredential'
  | 'UnknownDevice'
  | 'KeyMismatch'
  | 'ProofInvalid';

export class AtmError extends Error {
  override readonly name = 'AtmError';
  constructor(
    readonly code: AtmErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function isAtmError(value: unknown, code?: AtmErrorCode): value is AtmError {
  return value instanceof AtmError && (code === undefined || value.code === code);
}
