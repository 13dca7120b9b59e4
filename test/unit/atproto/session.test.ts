import { Secp256k1Keypair } from '@atproto/crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { agentFor, resumeSession, signIn, type Session, type SessionConfig } from '../../../src/atproto/session';
import { isAtmError, type AtmError } from '../../../src/errors';

// Sign-in against servers that answer what we script: the answers the local PDS never gives
// (email two-factor, a lying PDS, a hung server) and token refresh without waiting two hours.

const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const HANDLE = 'alice.example.com';
const PDS = 'https://pds.example';
const config: SessionConfig = {
  plcUrl: 'https://plc.example',
  handleResolver: 'https://resolver.example',
  chatProxy: 'did:web:chat.example#bsky_chat',
};

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'at+jwt', alg: 'HS256' })}.${part(claims)}.signature`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const access = (scope = 'com.atproto.appPassPrivileged', exp = nowSeconds() + 7200) => jwt({ scope, sub: DID, exp });

type Route = (request: Request, body: unknown) => Response | Promise<Response>;

/** A fetch that answers `<origin><path>` from the routes and records every request. */
function scripted(routes: Record<string, Route>): { fetch: typeof globalThis.fetch; calls: string[] } {
  const calls: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const key = `${url.origin}${url.pathname}`;
    calls.push(key);
    const route = routes[key];
    if (!route) return Response.json({ error: 'NotFound', message: key }, { status: 404 });
    const body = request.method === 'POST' && request.body ? await request.json().catch(() => undefined) : undefined;
    return route(request, body);
  };
  return { fetch, calls };
}

async function failure(p: Promise<unknown>): Promise<AtmError> {
  try {
    await p;
  } catch (error) {
    if (isAtmError(error)) return error;
    throw new Error(`untyped rejection: ${String(error)}`, { cause: error });
  }
  throw new Error('resolved, expected a rejection');
}

let didDoc: Record<string, unknown>;

beforeAll(async () => {
  const key = await Secp256k1Keypair.create();
  didDoc = {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: DID,
    alsoKnownAs: [`at://${HANDLE}`],
    verificationMethod: [
      {
        id: `${DID}#atproto`,
        type: 'Multikey',
        controller: DID,
        publicKeyMultibase: key.did().slice('did:key:'.length),
      },
    ],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: PDS }],
  };
});

/** A healthy world: the handle resolves, the document claims it, the PDS signs in and proxies chat. */
function world(overrides: Record<string, Route> = {}): Record<string, Route> {
  return {
    [`${config.handleResolver}/xrpc/com.atproto.identity.resolveHandle`]: () => Response.json({ did: DID }),
    [`${config.plcUrl}/${DID}`]: () => Response.json(didDoc),
    [`${PDS}/xrpc/com.atproto.server.createSession`]: () =>
      Response.json({ did: DID, handle: HANDLE, accessJwt: access(), refreshJwt: 'refresh-1', active: true }),
    [`${PDS}/xrpc/chat.bsky.convo.listConvos`]: (request) =>
      request.headers.get('atproto-proxy') === config.chatProxy
        ? Response.json({ convos: [] })
        : Response.json({ error: 'InvalidRequest', message: 'no proxy header' }, { status: 400 }),
    [`${PDS}/xrpc/com.atproto.server.deleteSession`]: () => new Response(null, { status: 200 }),
    ...overrides,
  };
}

describe('signIn', () => {
  it('logs in with the DID on the PDS of the document and checks chat through the proxy', async () => {
    let loginBody: unknown;
    const { fetch, calls } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.createSession`]: (_request, body) => {
          loginBody = body;
          return Response.json({ did: DID, handle: HANDLE, accessJwt: access(), refreshJwt: 'refresh-1' });
        },
      }),
    );
    const session = await signIn(config, HANDLE, 'app-pass', { fetch, now: () => Date.UTC(2026, 0, 2) });
    expect(session).toEqual({
      did: DID,
      handle: HANDLE,
      pds: PDS,
      accessJwt: expect.any(String),
      refreshJwt: 'refresh-1',
      createdAt: '2026-01-02T00:00:00.000Z',
      appPassword: true,
    });
    expect(loginBody).toMatchObject({ identifier: DID, password: 'app-pass' });
    expect(calls).not.toContain(`${PDS}/xrpc/com.atproto.server.deleteSession`);
  });

  it('leaves appPassword out when the token does not say which kind of password made it', async () => {
    const { fetch } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.createSession`]: () =>
          Response.json({ did: DID, handle: HANDLE, accessJwt: 'opaque-token', refreshJwt: 'refresh-1' }),
      }),
    );
    const session = await signIn(config, HANDLE, 'app-pass', { fetch });
    expect('appPassword' in session).toBe(false);
  });

  it('refuses a malformed handle or chat proxy before any request', async () => {
    const { fetch, calls } = scripted(world());
    expect((await failure(signIn(config, 'alice', 'x', { fetch }))).code).toBe('InvalidHandle');
    expect((await failure(signIn(config, '-alice.example.com', 'x', { fetch }))).code).toBe('InvalidHandle');
    expect((await failure(signIn(config, 'did:plc:short', 'x', { fetch }))).code).toBe('InvalidDid');
    expect((await failure(signIn({ ...config, chatProxy: 'did:web:chat.example' }, HANDLE, 'x', { fetch }))).code).toBe(
      'InvalidInput',
    );
    expect(calls).toEqual([]);
  });

  it('maps the lexicon error HandleNotFound', async () => {
    const { fetch } = scripted(
      world({
        [`${config.handleResolver}/xrpc/com.atproto.identity.resolveHandle`]: () =>
          Response.json({ error: 'HandleNotFound', message: 'nope' }, { status: 400 }),
      }),
    );
    expect((await failure(signIn(config, HANDLE, 'x', { fetch }))).code).toBe('HandleNotFound');
  });

  it('refuses a document that does not claim the handle, without contacting the PDS', async () => {
    const { fetch, calls } = scripted(
      world({ [`${config.plcUrl}/${DID}`]: () => Response.json({ ...didDoc, alsoKnownAs: ['at://mallory.example'] }) }),
    );
    expect(await failure(signIn(config, HANDLE, 'x', { fetch }))).toMatchObject({
      code: 'HandleMismatch',
      context: { handle: HANDLE, did: DID, claimed: 'mallory.example' },
    });
    expect(calls.filter((c) => c.startsWith(PDS))).toEqual([]);
  });

  it('signs in by DID with handle.invalid when the handle does not resolve back', async () => {
    const { fetch } = scripted(
      world({
        [`${config.handleResolver}/xrpc/com.atproto.identity.resolveHandle`]: () =>
          Response.json({ did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' }),
      }),
    );
    expect(await signIn(config, DID, 'x', { fetch })).toMatchObject({ did: DID, handle: 'handle.invalid' });
  });

  it('asks for an app password when the account password needs an email code', async () => {
    const { fetch } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.createSession`]: () =>
          Response.json({ error: 'AuthFactorTokenRequired', message: 'A sign in code has been sent' }, { status: 401 }),
      }),
    );
    expect(await failure(signIn(config, HANDLE, 'x', { fetch }))).toMatchObject({
      code: 'InvalidCredentials',
      context: { reason: 'AuthFactorTokenRequired' },
    });
  });

  it('refuses a PDS that signs in another account, and deletes that session', async () => {
    const { fetch, calls } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.createSession`]: () =>
          Response.json({
            did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb',
            handle: HANDLE,
            accessJwt: access(),
            refreshJwt: 'refresh-1',
          }),
      }),
    );
    const error = await failure(signIn(config, HANDLE, 'x', { fetch }));
    expect(error).toMatchObject({ code: 'Network', message: expect.stringContaining('another account') });
    expect(calls).toContain(`${PDS}/xrpc/com.atproto.server.deleteSession`);
  });

  it('deletes the new session when the app password has no DM access', async () => {
    const { fetch, calls } = scripted(
      world({
        [`${PDS}/xrpc/chat.bsky.convo.listConvos`]: () =>
          Response.json({ error: 'InvalidToken', message: 'Bad token method' }, { status: 400 }),
      }),
    );
    expect((await failure(signIn(config, HANDLE, 'x', { fetch }))).code).toBe('NoDmAccess');
    expect(calls).toContain(`${PDS}/xrpc/com.atproto.server.deleteSession`);
  });

  it('gives up on a server that never answers after timeoutMs, as Network', async () => {
    const hung: typeof globalThis.fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    expect(await failure(signIn(config, HANDLE, 'x', { fetch: hung, timeoutMs: 50 }))).toMatchObject({
      code: 'Network',
      context: { operation: 'com.atproto.identity.resolveHandle' },
    });
  });
});

describe('resumeSession and agentFor', () => {
  const stored = (accessJwt: string): Session => ({
    did: DID,
    handle: HANDLE,
    pds: PDS,
    accessJwt,
    refreshJwt: 'refresh-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    appPassword: true,
  });
  const refreshRoute = (): Route => (request) =>
    request.headers.get('authorization') === 'Bearer refresh-1'
      ? Response.json({ did: DID, handle: HANDLE, accessJwt: 'access-2', refreshJwt: 'refresh-2' })
      : Response.json({ error: 'ExpiredToken', message: 'Token has expired' }, { status: 400 });

  it('uses a valid access token without any request', async () => {
    const { fetch, calls } = scripted(world());
    const resumed = await resumeSession(config, stored(access()), { fetch });
    expect(resumed.session).toEqual(stored(resumed.session.accessJwt));
    expect(calls).toEqual([]);
  });

  it('refreshes an access token expired by its exp, and refuses a revoked refresh token', async () => {
    const { fetch } = scripted(world({ [`${PDS}/xrpc/com.atproto.server.refreshSession`]: refreshRoute() }));
    const expired = stored(access(undefined, nowSeconds() - 10));
    const resumed = await resumeSession(config, expired, { fetch });
    expect(resumed.session).toEqual({ ...expired, accessJwt: 'access-2', refreshJwt: 'refresh-2' });
    expect(await failure(resumeSession(config, { ...expired, refreshJwt: 'revoked' }, { fetch }))).toMatchObject({
      code: 'SessionExpired',
    });
  });

  it('refuses stored data that is not a session', async () => {
    const bad = { ...stored(access()), pds: 'http://pds.example' };
    expect((await failure(resumeSession(config, bad))).code).toBe('InvalidInput');
  });

  it('agentFor refreshes when the PDS says the token expired, and reports the new tokens', async () => {
    const changes: Array<Session | undefined> = [];
    const { fetch } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.refreshSession`]: refreshRoute(),
        [`${PDS}/xrpc/com.atproto.server.getSession`]: (request) =>
          request.headers.get('authorization') === 'Bearer access-2'
            ? Response.json({ did: DID, handle: HANDLE })
            : Response.json({ error: 'ExpiredToken', message: 'Token has expired' }, { status: 400 }),
      }),
    );
    const agent = agentFor(stored('access-1'), { fetch, onSessionChange: (s) => changes.push(s) });
    const res = await agent.fetchHandler('/xrpc/com.atproto.server.getSession', { method: 'GET' });
    expect(await res.json()).toMatchObject({ did: DID });
    expect(changes).toEqual([{ ...stored('access-1'), accessJwt: 'access-2', refreshJwt: 'refresh-2' }]);
  });

  it('agentFor reports undefined when the refresh token was revoked', async () => {
    const changes: Array<Session | undefined> = [];
    const { fetch } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.refreshSession`]: refreshRoute(),
        [`${PDS}/xrpc/com.atproto.server.getSession`]: () =>
          Response.json({ error: 'ExpiredToken', message: 'Token has expired' }, { status: 400 }),
      }),
    );
    const agent = agentFor(
      { ...stored('access-1'), refreshJwt: 'revoked' },
      { fetch, onSessionChange: (s) => changes.push(s) },
    );
    const res = await agent.fetchHandler('/xrpc/com.atproto.server.getSession', { method: 'GET' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'ExpiredToken' });
    expect(changes).toEqual([undefined]);
  });

  it('agentFor sends the tokens to the signed-in PDS only, whatever DID document a refresh names', async () => {
    const elsewhere = 'https://elsewhere.example';
    const movedDoc = () => ({ ...didDoc, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: elsewhere }] });
    const { fetch, calls } = scripted(
      world({
        [`${PDS}/xrpc/com.atproto.server.refreshSession`]: () =>
          Response.json({ did: DID, handle: HANDLE, accessJwt: 'access-2', refreshJwt: 'refresh-2', didDoc: movedDoc(), emailConfirmed: true }),
        [`${PDS}/xrpc/com.atproto.server.getSession`]: () => Response.json({ error: 'ExpiredToken', message: 'Token has expired' }, { status: 400 }),
        [`${elsewhere}/xrpc/com.atproto.server.getSession`]: () => Response.json({ did: DID, handle: HANDLE }),
      }),
    );
    const agent = agentFor(stored('access-1'), { fetch });
    const error = await failure(agent.fetchHandler('/xrpc/com.atproto.server.getSession', { method: 'GET' }));
    expect(error).toMatchObject({ code: 'Network', context: { origin: elsewhere } });
    expect(calls.filter((c) => c.startsWith(elsewhere))).toEqual([]);
  });
});
