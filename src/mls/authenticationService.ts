import type { AuthenticationService as TsMlsAuthenticationService, Credential } from 'ts-mls';
import { credentialIdentity } from './credential';

/**
 * Our Authentication Service (RFC 9420 §5.3.1): is this device AT-URI bound to this signature key?
 * Resolves true to trust, false to refuse; throwing means "could not check now" and the error
 * reaches the caller unchanged. It is handed to ts-mls as `ClientConfig.authService` for every
 * group operation, so ts-mls asks it about every leaf it admits (KeyPackages in Adds, committers'
 * UpdatePath leaves, the GroupInfo signer and every tree leaf on join).
 */
export type AuthenticationService = (identity: string, signaturePublicKey: Uint8Array) => Promise<boolean>;

/** What the adapter saw during one operation, so the caller's error can say why ts-mls failed. */
export interface AuthenticationLog {
  /** The first identity refused (or `undefined` identity when the credential was not a device URI). */
  refused: { identity: string | undefined } | undefined;
  /** The error the service threw, passed through unchanged. */
  thrown: unknown;
}

export function newAuthenticationLog(): AuthenticationLog {
  return { refused: undefined, thrown: undefined };
}

/**
 * ts-mls's interface over ours. Credentials that are not device-AT-URI basic credentials are
 * refused without asking the service.
 */
export function toTsMlsAuthService(auth: AuthenticationService, log: AuthenticationLog): TsMlsAuthenticationService {
  return {
    async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
      const identity = credentialIdentity(credential);
      if (identity === undefined) {
        log.refused ??= { identity: undefined };
        return false;
      }
      let trusted: boolean;
      try {
        trusted = await auth(identity, signaturePublicKey.slice());
      } catch (err) {
        log.thrown ??= err;
        throw err;
      }
      if (trusted !== true) {
        log.refused ??= { identity };
        return false;
      }
      return true;
    },
  };
}
