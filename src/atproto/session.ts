import { buildAgent, Client, xrpc, XrpcResponseError, type Agent, type DidString, type HandleString } from '@atproto/lex';
import { PasswordSession } from '@atproto/lex-password-session';
import { AtmError } from '../errors';
import * as lexicons from '../lexicons';
import { createIdentityResolver, isAtprotoDid, isSecureEndpoint } from './identity';

/** Where sign-in looks things up; plain data from the extension's settings. */
export interface SessionConfig {
  plcUrl: string;
  /** A service answering com.atproto.identity.resolveHandle (https://public.api.bsky.app). */
  handleResolver: string;
  /** `atproto-proxy` value for chat.bsky.*: 'did:web:api.bsky.chat#bsky_chat'. */
  chatProxy: string;
}

/**
 * A signed-in account as plain data, so the background can keep it in IndexedDB and rebuild an
 * agent after the service worker is killed. The tokens are secrets: never log it or put it in
 * an error's context.
 */
export interface Session {
  did: string;
  /** Verified both ways (handle → DID → document claims the handle), or 'handle.invalid'. */
  handle: string;
  /** The PDS named in the DID document, not one the user typed. */
  pds: string;
  accessJwt: string;
  refreshJwt: string;
  /** ISO 8601 time of the sign-in. */
  createdAt: string;
  /**
   * False when signed in with the account password (full access: the popup should suggest an
   * app password); absent when the PDS's token does not say.
   */
  appPassword?: boolean;
}

export interface SessionDeps {
  fetch?: typeof globalThis.fetch;
  /** Per request of sign-in, resume and sign-out; agents from agentFor have none (uploads). */
  timeoutMs?: number;
  /** Milliseconds since the epoch; decides whether a stored access token has expired. */
  now?: () => number;
}

export interface AgentDeps {
  fetch?: typeof globalThis.fetch;
  /**
   * Called when the agent refreshed its tokens by itself (the access token expired mid-use),
   * with the session to store, or with undefined when the PDS refused the refresh token (signed
   * out elsewhere, revoked app password): the user must sign in again.
   */
  onSessionChange?: (session: Session | undefined) => void;
}

export interface ResumedSession {
  /** Store this one: it differs from the stored session when the tokens were refreshed. */
  session: Session;
  /** Authenticated on the user's PDS (repo writes). */
  agent: Agent;
  /** The same session, proxied to the chat service (chat.bsky.convo.*). */
  chat: Client;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** Refresh a little before expiry, so a token does not run out between check and use. */
const EXPIRY_MARGIN_MS = 60_000;
/** Scope the PDS puts in access tokens made from the account password (not an app password). */
const FULL_ACCESS_SCOPE = 'com.atproto.access';
const INVALID_HANDLE = 'handle.invalid';
// AT Protocol handle syntax: DNS labels, the last one starting with a letter, 253 chars at most.
const HANDLE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PROXY = /^did:[a-z]+:[a-zA-Z0-9._:%-]+#[a-zA-Z][a-zA-Z0-9_]*$/;

/**
 * Signs in with a handle (or DID) and an app password that allows direct messages.
 *
 * The PDS comes from the DID document, never from the user or the handle resolver, and the
 * handle must be claimed by that document: otherwise a resolver (or a lookalike domain) could
 * send the password to a PDS of its choosing. The login uses the DID, so the PDS cannot sign us
 * into another account that happens to hold the handle.
 */
export async function signIn(
  config: SessionConfig,
  identifier: string,
  password: string,
  deps: SessionDeps = {},
): Promise<Session> {
  parseProxy(config.chatProxy);
  const fetch = timedFetch(deps);
  const account = await resolveAccount(config, identifier, fetch, deps.timeoutMs);
  let data: lexicons.com.atproto.server.createSession.$OutputBody;
  try {
    const res = await xrpc(buildAgent({ service: account.pds, fetch }), lexicons.com.atproto.server.createSession.main, {
      body: { identifier: account.did, password },
    });
    data = res.body;
  } catch (error) {
    throw loginError(error, account.did);
  }
  const session: Session = {
    did: data.did,
    handle: account.handle,
    pds: account.pds,
    accessJwt: data.accessJwt,
    refreshJwt: data.refreshJwt,
    createdAt: new Date(deps.now?.() ?? Date.now()).toISOString(),
  };
  // Signing in succeeded but cannot be used: do not leave a session behind on the PDS.
  const revoke = () => signOut(session, deps);
  if (data.did !== account.did) {
    await revoke();
    throw new AtmError('Network', 'the PDS signed in another account than the one asked for', { did: account.did });
  }
  if (data.active === false) {
    await revoke();
    throw new AtmError('AccountUnavailable', 'this account is not active on its PDS', {
      did: account.did,
      status: data.status,
    });
  }
  try {
    await chatAgent(config, agentFor(session, { fetch })).xrpc(lexicons.chat.bsky.convo.listConvos.main, { params: { limit: 1 } });
  } catch (error) {
    await revoke();
    // The PDS refuses to proxy chat.bsky.* for an app password created without DM access:
    // 400 InvalidToken ("Bad token method"; pipethrough's PRIVILEGED_METHODS).
    const failure = xrpcFailure(error);
    if (failure?.status === 400 && failure.error === 'InvalidToken') {
      throw new AtmError(
        'NoDmAccess',
        "this app password does not allow direct messages: create one with 'Allow access to your direct messages'",
        { did: account.did },
      );
    }
    throw xrpcNetworkError(error, 'chat.bsky.convo.listConvos', { did: account.did });
  }
  const scope = jwtClaims(data.accessJwt)?.scope;
  return { ...session, ...(typeof scope === 'string' ? { appPassword: scope !== FULL_ACCESS_SCOPE } : {}) };
}

/**
 * Rebuilds the agents from a stored session after the service worker woke up. An access token
 * that has expired (by its own `exp`, against `deps.now`) is refreshed first, so the first call
 * does not fail; one that expires later is refreshed by the agent (see agentFor).
 */
export async function resumeSession(
  config: Pick<SessionConfig, 'chatProxy'>,
  stored: Session,
  deps: SessionDeps & AgentDeps = {},
): Promise<ResumedSession> {
  parseProxy(config.chatProxy);
  assertSession(stored);
  const now = deps.now?.() ?? Date.now();
  const exp = jwtClaims(stored.accessJwt)?.exp;
  const session =
    typeof exp === 'number' && exp * 1000 <= now + EXPIRY_MARGIN_MS ? await refresh(stored, deps) : stored;
  const agent = agentFor(session, deps);
  return { session, agent, chat: chatAgent(config, agent) };
}

/**
 * An agent on the session's PDS with its tokens, without a network round trip. When the PDS
 * says the access token expired, the agent refreshes it and retries (@atproto/lex-password-session);
 * deps.onSessionChange gets the new tokens to store.
 *
 * Requests go to the session's PDS only, the one found from the DID document at sign-in: the
 * refresh answer may carry a DID document of the PDS's choosing, which the library would
 * otherwise follow with our tokens.
 */
export function agentFor(session: Session, deps: AgentDeps = {}): Agent {
  assertSession(session);
  const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const pdsOrigin = new URL(session.pds).origin;
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== pdsOrigin) {
      return Promise.reject(new AtmError('Network', 'refused a request outside the signed-in PDS', { origin: url.origin }));
    }
    return doFetch(input, init);
  };
  let current = session;
  return new PasswordSession(
    {
      service: session.pds,
      did: session.did as DidString,
      handle: session.handle as HandleString,
      accessJwt: session.accessJwt,
      refreshJwt: session.refreshJwt,
      active: true,
    },
    {
      fetch,
      onUpdated: (data) => {
        current = { ...current, accessJwt: data.accessJwt, refreshJwt: data.refreshJwt };
        deps.onSessionChange?.(current);
      },
      onDeleted: () => deps.onSessionChange?.(undefined),
    },
  );
}

/** A client proxied to the chat service named in the config (`atproto-proxy` header). */
export function chatAgent(config: Pick<SessionConfig, 'chatProxy'>, agent: Agent): Client {
  parseProxy(config.chatProxy);
  return new Client(agent, { service: config.chatProxy as `did:${string}:${string}#${string}` });
}

/**
 * Revokes the session on the PDS (its refresh token; the access token lapses within hours).
 * Best effort: the caller forgets the session whatever happens, and an unreachable PDS must not
 * keep the user signed in locally.
 */
export async function signOut(session: Session, deps: SessionDeps = {}): Promise<void> {
  try {
    await xrpc(buildAgent({ service: session.pds, fetch: timedFetch(deps) }), lexicons.com.atproto.server.deleteSession.main, {
      headers: { authorization: `Bearer ${session.refreshJwt}` },
    });
  } catch {
    // Already revoked, expired or unreachable: nothing more we can do.
  }
}

interface Account {
  did: string;
  handle: string;
  pds: string;
}

async function resolveAccount(
  config: SessionConfig,
  identifier: string,
  fetch: typeof globalThis.fetch,
  timeoutMs: number | undefined,
): Promise<Account> {
  const identity = createIdentityResolver({ plcUrl: config.plcUrl, fetch, ...(timeoutMs ? { timeoutMs } : {}) });
  const typed = identifier.trim().replace(/^@/, '');
  if (typed.startsWith('did:')) {
    if (!isAtprotoDid(typed)) throw new AtmError('InvalidDid', 'not a did:plc or did:web', { did: typed });
    const doc = await identity.resolveDid(typed);
    // A DID is its own proof; its handle is only shown if it resolves back to the DID.
    let handle = INVALID_HANDLE;
    if (doc.handle && HANDLE.test(doc.handle.toLowerCase())) {
      const back = await resolveHandle(config.handleResolver, doc.handle.toLowerCase(), fetch).catch((error) => {
        if (error instanceof AtmError && error.code === 'HandleNotFound') return undefined;
        throw error;
      });
      if (back === typed) handle = doc.handle.toLowerCase();
    }
    return { did: typed, handle, pds: doc.pds };
  }
  const handle = typed.toLowerCase();
  if (handle.length > 253 || !HANDLE.test(handle)) {
    throw new AtmError('InvalidHandle', 'not a handle (like alice.bsky.social) or a DID', { handle: typed });
  }
  const did = await resolveHandle(config.handleResolver, handle, fetch);
  const doc = await identity.resolveDid(did);
  if (doc.handle?.toLowerCase() !== handle) {
    throw new AtmError('HandleMismatch', 'the DID document of this handle does not claim it', {
      handle,
      did,
      claimed: doc.handle,
    });
  }
  return { did, handle, pds: doc.pds };
}

async function resolveHandle(service: string, handle: string, fetch: typeof globalThis.fetch): Promise<string> {
  let did: string;
  try {
    const res = await xrpc(buildAgent({ service, fetch }), lexicons.com.atproto.identity.resolveHandle.main, {
      params: { handle: handle as HandleString },
    });
    did = res.body.did;
  } catch (error) {
    // The lexicon names HandleNotFound; the PDS and the AppView answer 400 InvalidRequest for an
    // unknown handle (the handle's syntax was checked before asking).
    const failure = xrpcFailure(error);
    if (failure && (failure.error === 'HandleNotFound' || (failure.status === 400 && failure.error === 'InvalidRequest'))) {
      throw new AtmError('HandleNotFound', 'no account has this handle', { handle });
    }
    throw xrpcNetworkError(error, 'com.atproto.identity.resolveHandle', { handle });
  }
  if (!isAtprotoDid(did))
    throw new AtmError('InvalidDid', 'the handle resolves to an unsupported DID', { handle, did });
  return did;
}

function loginError(error: unknown, did: string): AtmError {
  const failure = xrpcFailure(error);
  if (failure) {
    // Accounts with email two-factor need a code for the account password, never for an app
    // password: the popup takes app passwords only.
    if (failure.error === 'AuthFactorTokenRequired') {
      return new AtmError('InvalidCredentials', 'this account asks for an email code: sign in with an app password', {
        did,
        reason: failure.error,
      });
    }
    if (failure.error === 'AccountTakedown') {
      return new AtmError('AccountUnavailable', 'this account has been taken down', { did, reason: failure.error });
    }
    if (failure.status === 401 || failure.error === 'AuthenticationRequired') {
      return new AtmError('InvalidCredentials', 'wrong handle or app password', { did });
    }
  }
  return xrpcNetworkError(error, 'com.atproto.server.createSession', { did });
}

async function refresh(session: Session, deps: SessionDeps): Promise<Session> {
  let data: { did: string; accessJwt: string; refreshJwt: string };
  try {
    const res = await xrpc(buildAgent({ service: session.pds, fetch: timedFetch(deps) }), lexicons.com.atproto.server.refreshSession.main, {
      headers: { authorization: `Bearer ${session.refreshJwt}` },
    });
    data = res.body;
  } catch (error) {
    // The PDS no longer honours the refresh token (signed out, expired, app password revoked).
    const failure = xrpcFailure(error);
    if (failure && (failure.status === 401 || failure.error === 'ExpiredToken' || failure.error === 'InvalidToken')) {
      throw new AtmError('SessionExpired', 'the session has ended: sign in again', {
        did: session.did,
        reason: failure.error,
      });
    }
    throw xrpcNetworkError(error, 'com.atproto.server.refreshSession', { did: session.did });
  }
  if (data.did !== session.did) {
    throw new AtmError('Network', 'the PDS refreshed the session of another account', { did: session.did });
  }
  return { ...session, accessJwt: data.accessJwt, refreshJwt: data.refreshJwt };
}

/** What an XRPC server answered, when it answered (not a network failure or a bad answer). */
function xrpcFailure(error: unknown): { status: number; error: string } | undefined {
  return error instanceof XrpcResponseError ? { status: error.status, error: error.error } : undefined;
}

function xrpcNetworkError(error: unknown, operation: string, context: Record<string, unknown>): AtmError {
  if (error instanceof AtmError) return error;
  const failure = xrpcFailure(error);
  return new AtmError(
    'Network',
    `${operation} failed`,
    { ...context, operation, status: failure?.status, error: failure?.error },
    { cause: error },
  );
}

/** Sign-in talks to servers the user does not control: none of them may hang the popup. */
function timedFetch(deps: SessionDeps): typeof globalThis.fetch {
  const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    return doFetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
  };
}

function parseProxy(value: string): { did: string; serviceId: string } {
  if (!PROXY.test(value)) throw new AtmError('InvalidInput', 'chatProxy must be <did>#<service id>', { value });
  const hash = value.indexOf('#');
  return { did: value.slice(0, hash), serviceId: value.slice(hash + 1) };
}

function assertSession(session: Session): void {
  const ok =
    typeof session === 'object' &&
    session !== null &&
    isAtprotoDid(session.did) &&
    typeof session.handle === 'string' &&
    typeof session.pds === 'string' &&
    isSecureEndpoint(session.pds) &&
    typeof session.accessJwt === 'string' &&
    typeof session.refreshJwt === 'string';
  if (!ok) throw new AtmError('InvalidInput', 'not a stored session', {});
}

/**
 * The unverified claims of a JWT. Only for our own bookkeeping (when to refresh, which kind of
 * password): the PDS is what checks tokens.
 */
function jwtClaims(jwt: string): { exp?: unknown; scope?: unknown } | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json: unknown = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '=')));
    return typeof json === 'object' && json !== null ? json : undefined;
  } catch {
    return undefined;
  }
}
