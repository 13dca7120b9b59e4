import { isAtmError, type AtmErrorCode } from '../errors';
import type { AuthenticationService as MlsAuthenticationService } from '../mls';
import type { AuthenticationService } from './authentication-service';

/** The verdicts that mean "this credential is not trusted"; anything else means "could not check". */
const REFUSALS: ReadonlySet<AtmErrorCode> = new Set([
  // The DID itself is unusable: retrying will not change the answer.
  'InvalidDid',
  'DidNotFound',
  'InvalidDidDocument',
  'PayloadTooLarge',
  // The DID's PDS refuses for good (e.g. a deactivated repo): the device cannot be proven.
  'RemoteRefused',
  'InvalidCredential',
  'UnknownDevice',
  'KeyMismatch',
  'InvalidRecord',
  'ProofInvalid',
]);

/** Whether an Authentication Service error is a verdict (never trust) rather than "could not check". */
export function isRefusal(error: unknown): boolean {
  return isAtmError(error) && REFUSALS.has(error.code);
}

/**
 * Plugs our Authentication Service into ts-mls. A refusal becomes `false` (ts-mls then rejects
 * the leaf and src/mls raises `UntrustedCredential`); a network or identity failure is rethrown
 * unchanged so the caller keeps the input and retries instead of rejecting it for good.
 */
export function mlsAuthService(as: AuthenticationService): MlsAuthenticationService {
  return async (identity, signaturePublicKey) => {
    try {
      await as.verify(identity, signaturePublicKey);
      return true;
    } catch (error) {
      if (isRefusal(error)) return false;
      throw error;
    }
  };
}
