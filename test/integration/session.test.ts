import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AtpAgent } from '@atproto/api';
import { Secp256k1Keypair } from '@atproto/crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Agent } from '@atproto/lex';
import { agentOwnRepo } from '../../src/atproto/repos';
import { agentFor, resumeSession, signIn, signOut, type Session, type SessionConfig } from '../../src/atproto/session';
import * as lexicons from '../../src/lexicons';
import { isAtmError, type AtmError } from '../../src/errors';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';

// Sign-in, against the real PLC + PDS and the chat stand-in behind the PDS proxy.

const net = attachNetwork(inject('network'));
const config: SessionConfig = {
  plcUrl: net.plcUrl,
  // The PDS answers resolveHandle for its own `.test` handles, as the AppView does in production.
  handleResolver: net.pdsUrl,
  chatProxy: `${net.chat.did}#bsky_chat`,
};

async function failure(p: Promise<unknown>): Promise<AtmError> {
  try {
    await p;
  } catch (error) {
    if (isAtmError(error)) return error;
    throw new Error(`untyped rejection: ${String(error)}`, { cause: error });
  }
  throw new Error('resolved, expected a rejection');
}

/** The agent writes to the account's repo (through the extension's own repo client). */
async function canWrite(agent: Agent, did: string, text: string): Promise<void> {
  const collection = 'org.atmessaging.test';
  const rkey = uniqueName('rec');
  await agentOwnRepo(agent, did).putRecord(collection, rkey, { $type: collection, text });
  const got = await new AtpAgent({ service: net.pdsUrl }).com.atproto.repo.getRecord({ repo: did, collection, rkey });
  expect(got.data.value).toMatchObject({ text });
}

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A stand-in PLC directory and handle resolver, for the answers the real ones will not give:
 * a DID document whose PDS is down, and a handle pointing at someone else's DID.
 */
async function startFakeDirectory(
  docs: Map<string, unknown>,
  handles: Map<string, string>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/xrpc/com.atproto.identity.resolveHandle') {
      const did = handles.get(url.searchParams.get('handle') ?? '');
      return did ? json(200, { did }) : json(400, { error: 'InvalidRequest', message: 'Unable to resolve handle' });
    }
    const doc = docs.get(decodeURIComponent(url.pathname.slice(1)));
    return doc ? json(200, doc) : json(404, { message: 'DID not registered' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let alice: Account;
let bob: Account;
let dora: Account;
/** Alice's app password without "Allow access to your direct messages". */
let aliceNoDms: string;

beforeAll(async () => {
  [alice, bob, dora] = await Promise.all([
    net.createAccount(uniqueName('sialice')),
    net.createAccount(uniqueName('sibob')),
    net.createAccount(uniqueName('sidora')),
  ]);
  const full = await resumeCreationSession(net.pdsUrl, alice);
  const { data } = await full.com.atproto.server.createAppPassword({ name: 'no-dms', privileged: false });
  aliceNoDms = data.password;
});

describe('signIn', () => {
  let session: Session;

  beforeAll(async () => {
    // As typed in a form: a leading @ and capitals are accepted.
    session = await signIn(config, `@${alice.handle.toUpperCase()}`, alice.appPassword);
  });

  it('with a DM-capable app password returns the session as plain data, and the agent can write', async () => {
    expect(session).toEqual({
      did: alice.did,
      handle: alice.handle,
      pds: net.pdsUrl,
      accessJwt: expect.any(String),
      refreshJwt: expect.any(String),
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      appPassword: true,
    });
    expect(structuredClone(session)).toEqual(session);
    await canWrite(agentFor(session), alice.did, 'written by a fresh sign-in');
  });

  it('with a DID looks the handle up both ways', async () => {
    const byDid = await signIn(config, bob.did, bob.appPassword);
    expect(byDid).toMatchObject({ did: bob.did, handle: bob.handle, pds: net.pdsUrl, appPassword: true });
    await signOut(byDid);
  });

  it('with the account password works, and says it is not an app password', async () => {
    const full = await signIn(config, bob.handle, bob.password);
    expect(full).toMatchObject({ did: bob.did, appPassword: false });
    await signOut(full);
  });

  it('refuses a wrong password with InvalidCredentials', async () => {
    const error = await failure(signIn(config, alice.handle, 'not-the-password'));
    expect(error).toMatchObject({ code: 'InvalidCredentials', context: { did: alice.did } });
    expect(JSON.stringify(error.context)).not.toContain('not-the-password');
  });

  it('refuses an app password without DM access with NoDmAccess and a message saying what to do', async () => {
    const error = await failure(signIn(config, alice.handle, aliceNoDms));
    expect(error.code).toBe('NoDmAccess');
    expect(error.message).toContain('Allow access to your direct messages');
  });

  it('refuses an unknown handle with HandleNotFound, and a malformed one before asking anyone', async () => {
    expect(await failure(signIn(config, `${uniqueName('sinobody')}.test`, 'x'))).toMatchObject({
      code: 'HandleNotFound',
    });
    const offline = { ...config, handleResolver: `http://127.0.0.1:${await closedPort()}` };
    expect((await failure(signIn(offline, 'not a handle', 'x'))).code).toBe('InvalidHandle');
    expect((await failure(signIn(offline, 'alice..test', 'x'))).code).toBe('InvalidHandle');
  });

  it('refuses a deactivated account with AccountUnavailable', async () => {
    const full = await resumeCreationSession(net.pdsUrl, dora);
    await full.com.atproto.server.deactivateAccount({});
    // Its handle no longer resolves; its DID still names its PDS.
    expect((await failure(signIn(config, dora.handle, dora.appPassword))).code).toBe('HandleNotFound');
    const error = await failure(signIn(config, dora.did, dora.appPassword));
    expect(error).toMatchObject({ code: 'AccountUnavailable', context: { did: dora.did, status: 'deactivated' } });
  });

  it('reports an unreachable handle resolver as Network', async () => {
    const offline = { ...config, handleResolver: `http://127.0.0.1:${await closedPort()}` };
    expect(await failure(signIn(offline, alice.handle, alice.appPassword))).toMatchObject({
      code: 'Network',
      context: { operation: 'com.atproto.identity.resolveHandle' },
    });
  });

  describe('with a directory that lies or points at a dead PDS', () => {
    const ghostDid = 'did:plc:ghostghostghostghost2345';
    const ghostHandle = 'ghost.test';
    let directory: Awaited<ReturnType<typeof startFakeDirectory>>;

    beforeAll(async () => {
      const key = await Secp256k1Keypair.create();
      const ghostDoc = {
        '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
        id: ghostDid,
        alsoKnownAs: [`at://${ghostHandle}`],
        verificationMethod: [
          {
            id: `${ghostDid}#atproto`,
            type: 'Multikey',
            controller: ghostDid,
            publicKeyMultibase: key.did().slice('did:key:'.length),
          },
        ],
        service: [
          {
            id: '#atproto_pds',
            type: 'AtprotoPersonalDataServer',
            serviceEndpoint: `http://127.0.0.1:${await closedPort()}`,
          },
        ],
      };
      const bobDoc = await (await fetch(`${net.plcUrl}/${bob.did}`)).json();
      directory = await startFakeDirectory(
        new Map<string, unknown>([
          [ghostDid, ghostDoc],
          [bob.did, bobDoc],
        ]),
        // Alice's handle, answered with Bob's DID: Bob's document does not claim it.
        new Map([
          [ghostHandle, ghostDid],
          [alice.handle, bob.did],
        ]),
      );
    });

    afterAll(() => directory?.close());

    it('reports a PDS on a closed port as Network', async () => {
      const ghostly = { ...config, plcUrl: directory.url, handleResolver: directory.url };
      expect(await failure(signIn(ghostly, ghostHandle, 'whatever'))).toMatchObject({
        code: 'Network',
        context: { operation: 'com.atproto.server.createSession', did: ghostDid },
      });
    });

    it('refuses a handle whose DID document does not claim it with HandleMismatch, before sending the password', async () => {
      const lying = { ...config, plcUrl: directory.url, handleResolver: directory.url };
      expect(await failure(signIn(lying, alice.handle, bob.appPassword))).toMatchObject({
        code: 'HandleMismatch',
        context: { handle: alice.handle, did: bob.did, claimed: bob.handle },
      });
    });
  });
});

describe('resumeSession and signOut', () => {
  let stored: Session;

  beforeAll(async () => {
    stored = await signIn(config, bob.handle, bob.appPassword);
  });

  it('rebuilds agents from stored tokens without refreshing a valid access token', async () => {
    const resumed = await resumeSession(config, structuredClone(stored));
    expect(resumed.session).toEqual(stored);
    await canWrite(resumed.agent, bob.did, 'written after a resume');
    const convos = await resumed.chat.xrpc(lexicons.chat.bsky.convo.listConvos.main, { params: { limit: 1 } });
    expect(Array.isArray(convos.body.convos)).toBe(true);
  });

  it('refreshes an expired access token first (clock three hours ahead), and the new tokens work', async () => {
    const later = () => Date.now() + 3 * 60 * 60 * 1000;
    const resumed = await resumeSession(config, stored, { now: later });
    expect(resumed.session).toMatchObject({ did: bob.did, handle: bob.handle, pds: net.pdsUrl, appPassword: true });
    // Access tokens made in the same second are identical (no nonce); refresh tokens never are.
    expect(resumed.session.refreshJwt).not.toBe(stored.refreshJwt);
    await canWrite(resumed.agent, bob.did, 'written after a refresh');
    stored = resumed.session;
  });

  it('signOut revokes the session on the PDS: resuming it again says SessionExpired', async () => {
    await signOut(stored);
    const later = () => Date.now() + 3 * 60 * 60 * 1000;
    expect(await failure(resumeSession(config, stored, { now: later }))).toMatchObject({
      code: 'SessionExpired',
      context: { did: bob.did },
    });
    // Best effort: a second sign-out of the same session, or of an unreachable PDS, is quiet.
    await signOut(stored);
    await signOut({ ...stored, pds: `http://127.0.0.1:${await closedPort()}` });
  });
});
