import { isAtmError } from '../errors';

/**
 * The typed code of a failed call, as a plain string: the background may answer with codes
 * newer than this page's `AtmErrorCode` union (e.g. `NotSignedIn`), and pages branch on them.
 */
export function errorCode(error: unknown): string {
  return isAtmError(error) ? error.code : 'Internal';
}
