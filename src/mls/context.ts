import type { ClientConfig, ClientState, GroupState as TsGroupState } from 'ts-mls';
import { defaultKeyPackageEqualityConfig } from 'ts-mls';
import {
  newAuthenticationLog,
  toTsMlsAuthService,
  type AuthenticationLog,
  type AuthenticationService,
} from './authenticationService';
import { MlsLayerError, toMlsLayerError } from './errors';
import type { MlsSuite } from './suite';

/** Milliseconds since the Unix epoch; structurally the engine's `Clock`. */
export interface Clock {
  now(): number;
}

/** How long old secrets are kept (RFC 9420 §9.2 "deletion schedule"). */
export interface KeyRetention {
  /** Past epochs whose application messages can still be decrypted. At least 1. */
  retainKeysForEpochs: number;
  /** Skipped generations kept per sender, for out-of-order messages. */
  retainKeysForGenerations: number;
  /** How far ahead of the last seen generation a message may be. */
  maximumForwardRatchetSteps: number;
}

export const DEFAULT_KEY_RETENTION: KeyRetention = {
  retainKeysForEpochs: 2,
  // As many as the tag window (§6.4) recognises ahead, so a late message in range still opens.
  retainKeysForGenerations: 64,
  maximumForwardRatchetSteps: 200,
};

/** What every MLS operation needs besides the group state: crypto, our AS, the time. */
export interface MlsContext {
  suite: MlsSuite;
  auth: AuthenticationService;
  clock: Clock;
  retention?: KeyRetention;
}

/** ts-mls's group state (its `ClientState`), always carrying a ClientConfig built from ours. */
export type GroupState = ClientState;

/**
 * The ClientConfig handed to ts-mls. Never ts-mls's defaults: its `defaultAuthenticationService`
 * accepts every credential.
 */
export function clientConfigFor(ctx: MlsContext, log: AuthenticationLog = newAuthenticationLog()): ClientConfig {
  const retention = ctx.retention ?? DEFAULT_KEY_RETENTION;
  // ts-mls 1.6.4 keeps every epoch when retainKeysForEpochs is 0 (`removeOldHistoricalReceiverData`
  // slices with -0), which would defeat forward secrecy.
  if (!Number.isInteger(retention.retainKeysForEpochs) || retention.retainKeysForEpochs < 1) {
    throw new MlsLayerError('InvalidInput', 'retainKeysForEpochs must be an integer >= 1', {
      retainKeysForEpochs: retention.retainKeysForEpochs,
    });
  }
  return {
    keyRetentionConfig: { ...retention },
    // ts-mls checks lifetimes with Date.now() only for KeyPackages we commit; we check those with
    // ctx.clock first (keyPackage.ts). On receive, stale leaves in a tree are not an error (RFC 9420
    // §7.3 warns against false negatives there), so ts-mls's receive check stays off.
    lifetimeConfig: { maximumTotalLifetime: 2_628_000n, validateLifetimeOnReceive: false },
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    // Length hiding is the envelope's job (padding to buckets); MLS padding would only waste space.
    paddingConfig: { kind: 'padUntilLength', padUntilLength: 0 },
    authService: toTsMlsAuthService(ctx.auth, log),
  };
}

/**
 * Runs one ts-mls call with a fresh AS log and turns what it throws into our errors: a refusal
 * by our AS becomes UntrustedCredential whatever ts-mls wrapped it in.
 */
export async function runMls<T>(
  ctx: MlsContext,
  operation: string,
  body: (config: ClientConfig, log: AuthenticationLog) => Promise<T>,
): Promise<T> {
  const log = newAuthenticationLog();
  const config = clientConfigFor(ctx, log);
  try {
    return await body(config, log);
  } catch (err) {
    if (log.thrown !== undefined && err === log.thrown) throw err;
    if (log.refused !== undefined && !(err instanceof MlsLayerError)) {
      throw new MlsLayerError(
        'UntrustedCredential',
        `${operation}: the authentication service refused a credential`,
        { operation, identity: log.refused.identity },
        { cause: err },
      );
    }
    throw toMlsLayerError(err, operation, log.thrown);
  }
}

/**
 * Attaches a config without a per-operation log, so returned states never hold a stale log
 * (also how a decoded state, which has no config, gets ours).
 */
export function settle(ctx: MlsContext, state: TsGroupState): GroupState {
  return { ...state, clientConfig: clientConfigFor(ctx) };
}
