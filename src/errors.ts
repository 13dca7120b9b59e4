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
  | 'NotSignedIn'
  | 'Network'
  // The server answered, and refused for good (4xx: deactivated repo, bad request)
  | 'RemoteRefused'
  // Local IndexedDB failed (quota, aborted transaction): nothing was decided, try again later.
  | 'Storage'
  | 'PayloadTooLarge'
  | 'InvalidDid'
  | 'DidNotFound'
  | 'InvalidDidDocument'
  // Sign-in (src/atproto/session.ts)
  | 'InvalidHandle'
  | 'HandleNotFound'
  | 'HandleMismatch'
  | 'InvalidCredentials'
  | 'AccountUnavailable'
  | 'NoDmAccess'
  | 'SessionExpired'
  // Authentication Service
  | 'InvalidCredential'
  | 'UnknownDevice'
  | 'KeyMismatch'
  | 'ProofInvalid'
  // MLS layer (src/mls/errors.ts documents each)
  | 'MlsDecode'
  | 'UnexpectedMessage'
  | 'WrongGroup'
  | 'StaleEpoch'
  | 'FutureEpoch'
  | 'UntrustedCredential'
  | 'KeyPackageExpired'
  | 'UnsupportedCipherSuite'
  | 'NotMember'
  | 'WelcomeNotForUs'
  | 'MlsRejected'
  | 'InvalidInput'
  // Events (src/protocol): envelope, padding, invites
  | 'InvalidEnvelope'
  | 'WelcomeReplayed'
  // Own devices (src/engine/own-devices.ts): revoking the device in use; sign out instead.
  | 'ThisDevice'
  // Safety numbers (docs/protocol.md §9): the fingerprint to verify is no longer the current one.
  | 'SafetyNumberChanged';

export class AtmError extends Error {
  override readonly name: string = 'AtmError';
  constructor(
    readonly code: AtmErrorCode,
    message: string,
    /** Describes the offending value; never secrets or plaintext. */
    readonly context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isAtmError(value: unknown, code?: AtmErrorCode): value is AtmError {
  return value instanceof AtmError && (code === undefined || value.code === code);
}
