import { AtpAgent, type ChatBskyConvoDefs } from '@atproto/api';
import { Secp256k1Keypair } from '@atproto/crypto';
import { IdResolver } from '@atproto/identity';
import { verifyRecords } from '@atproto/repo';
import { createServiceJwt } from '@atproto/xrpc-server';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { resumeCreationSession, signIn, uniqueName, type Account } from '../net/accounts';
import { CHAT_SERVICE_ID } from '../net/chat-constants';
import { attachNetwork, StandInDebugError, fetchStoredMessages } from '../net/remote';

// The local network itself: real PLC, real PDS, and the chat stand-in reached through the PDS
// proxy. Everything here goes over HTTP, exactly as the extension will.

const net = attachNetwork(inject('network'));
const idResolver = new IdResolver({ plcUrl: net.plcUrl });

/** A raw XRPC call, for what AtpAgent would refuse to send or hide (status codes, bad input). */
async function xrpc(
  base: string,
  nsid: string,
  opts: { params?: Record<string, string | string[]>; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: { error?: string; message?: string } & Record<string, unknown> }> {
  const url = new URL(`/xrpc/${nsid}`, base);
  for (const [k, v] of Object.entries(opts.params ?? {})) {
    for (const item of [v].flat()) url.searchParams.append(k, item);
  }
  const res = await fetch(url, {
    method: opts.body === undefined ? 'GET' : 'POST',
    headers: { ...(opts.body !== undefined && { 'content-type': 'application/json' }), ...opts.headers },
    ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Headers for a call through the PDS proxy to the chat stand-in, as a signed-in agent. */
function proxied(agent: AtpAgent): Record<string, string> {
  const jwt = agent.session?.accessJwt;
  if (!jwt) throw new Error('agent is not signed in');
  return { authorization: `Bearer ${jwt}`, 'atproto-proxy': net.chat.proxyHeader };
}

let alice: Account;
let bob: Account;
let mallory: Account;
/** Signed in with their app passwords, once: every PDS login takes at least 350 ms. */
let aliceApp: AtpAgent;
let bobApp: AtpAgent;
let malloryApp: AtpAgent;

beforeAll(async () => {
  [alice, bob, mallory] = await Promise.all([
    net.createAccount(uniqueName('ntalice')),
    net.createAccount(uniqueName('ntbob')),
    net.createAccount(uniqueName('ntmallory')),
  ]);
  [aliceApp, bobApp, malloryApp] = await Promise.all([
    signIn(net.pdsUrl, alice),
    signIn(net.pdsUrl, bob),
    signIn(net.pdsUrl, mallory),
  ]);
});

describe('accounts on the local PDS', () => {
  it('have a did:plc in the local PLC naming their handle, this PDS and an #atproto key', async () => {
    expect(alice.did).toMatch(/^did:plc:[a-z2-7]{24}$/);
    expect(alice.handle).toMatch(/^ntalice[a-z0-9]{6}\.test$/);
    const data = await idResolver.did.resolveAtprotoData(alice.did);
    expect(data.handle).toBe(alice.handle);
    expect(data.pds).toBe(net.pdsUrl);
    expect(data.signingKey).toMatch(/^did:key:z/);
  });

  it('sign in with the password and with the privileged app password, not with a wrong one', async () => {
    expect(aliceApp.session?.did).toBe(alice.did);
    expect(alice.appPassword).not.toBe(alice.password);
    const [full, wrong] = await Promise.allSettled([
      signIn(net.pdsUrl, alice, { with: 'password' }),
      new AtpAgent({ service: net.pdsUrl }).login({ identifier: alice.handle, password: 'wrong-password' }),
    ]);
    expect(full.status === 'fulfilled' && full.value.session?.did).toBe(alice.did);
    expect(wrong).toMatchObject({ status: 'rejected', reason: { status: 401, error: 'AuthenticationRequired' } });
  });
});

describe('records in the repo', () => {
  const collection = 'org.atmessaging.test';
  const rkey = 'rec1';
  const record = { $type: collection, text: 'hello repo', n: 42, createdAt: new Date().toISOString() };

  beforeAll(async () => {
    const agent = aliceApp;
    // No lexicon is published for org.atmessaging.test: omitting `validate` stores it unvalidated.
    const put = await agent.com.atproto.repo.putRecord({ repo: alice.did, collection, rkey, record });
    expect(put.data.uri).toBe(`at://${alice.did}/${collection}/${rkey}`);
    expect(put.data.validationStatus).toBe('unknown');
  });

  it('reads back with getRecord and listRecords (unauthenticated, as another user would)', async () => {
    const reader = new AtpAgent({ service: net.pdsUrl });
    const got = await reader.com.atproto.repo.getRecord({ repo: alice.did, collection, rkey });
    expect(got.data.value).toEqual(record);
    const listed = await reader.com.atproto.repo.listRecords({ repo: alice.did, collection });
    expect(listed.data.records.map((r) => r.uri)).toEqual([`at://${alice.did}/${collection}/${rkey}`]);
    expect(listed.data.records[0]?.value).toEqual(record);
    const empty = await reader.com.atproto.repo.listRecords({ repo: bob.did, collection });
    expect(empty.data.records).toEqual([]);
  });

  it('is proven by a sync.getRecord CAR signed with the #atproto key from PLC', async () => {
    const res = await new AtpAgent({ service: net.pdsUrl }).com.atproto.sync.getRecord({
      did: alice.did,
      collection,
      rkey,
    });
    const car = res.data;
    const key = await idResolver.did.resolveAtprotoKey(alice.did);
    const claims = await verifyRecords(car, alice.did, key);
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({ collection, rkey, record });

    // The same proof must not verify for another identity or key.
    const bobKey = await idResolver.did.resolveAtprotoKey(bob.did);
    await expect(verifyRecords(car, alice.did, bobKey)).rejects.toThrow();
  });
});

describe('chat stand-in through the PDS proxy', () => {
  let aliceChat: AtpAgent;
  let bobChat: AtpAgent;
  let convo: ChatBskyConvoDefs.ConvoView;
  const firstText = `plain text for the stand-in ${uniqueName('msg')}`;

  beforeAll(async () => {
    // The extension signs in with the app password and proxies to `<chat did>#bsky_chat`.
    aliceChat = aliceApp.withProxy(CHAT_SERVICE_ID, net.chat.did);
    bobChat = bobApp.withProxy(CHAT_SERVICE_ID, net.chat.did);
    const res = await aliceChat.chat.bsky.convo.getConvoForMembers({ members: [alice.did, bob.did] });
    convo = res.data.convo;
  });

  it('getConvoForMembers creates one direct convo with bsky-like id and both members', async () => {
    expect(convo.id).toMatch(/^[2-7a-z]{13}$/);
    expect(convo.members.map((m) => [m.did, m.handle])).toEqual([
      [alice.did, alice.handle],
      [bob.did, bob.handle],
    ]);
    expect(convo.status).toBe('accepted');
    // Idempotent, whoever asks and in whatever order.
    const again = await bobChat.chat.bsky.convo.getConvoForMembers({ members: [alice.did] });
    expect(again.data.convo.id).toBe(convo.id);
    expect(again.data.convo.status).toBe('request');
    const fetched = await bobChat.chat.bsky.convo.getConvo({ convoId: convo.id });
    expect(fetched.data.convo.id).toBe(convo.id);
  });

  it('sendMessage, getMessages, listConvos and getLog show the same conversation', async () => {
    const logStart = (await bobChat.chat.bsky.convo.getLog({})).data.cursor;
    const sent = await aliceChat.chat.bsky.convo.sendMessage({ convoId: convo.id, message: { text: firstText } });
    expect(sent.data.sender.did).toBe(alice.did);
    const reply = await bobChat.chat.bsky.convo.sendMessage({ convoId: convo.id, message: { text: 'reply' } });
    expect(reply.data.rev > sent.data.rev).toBe(true);

    const messages = await bobChat.chat.bsky.convo.getMessages({ convoId: convo.id });
    expect(messages.data.messages).toMatchObject([
      { $type: 'chat.bsky.convo.defs#messageView', id: reply.data.id, text: 'reply', sender: { did: bob.did } },
      { $type: 'chat.bsky.convo.defs#messageView', id: sent.data.id, text: firstText, sender: { did: alice.did } },
    ]);
    expect(messages.data.messages).toHaveLength(2);
    const paged = await bobChat.chat.bsky.convo.getMessages({ convoId: convo.id, limit: 1 });
    expect(paged.data.messages).toHaveLength(1);
    const older = await bobChat.chat.bsky.convo.getMessages({ convoId: convo.id, limit: 1, cursor: paged.data.cursor });
    expect(older.data.messages).toMatchObject([{ id: sent.data.id }]);

    const listed = await bobChat.chat.bsky.convo.listConvos({});
    expect(listed.data.convos.map((c) => c.id)).toEqual([convo.id]);
    expect(listed.data.convos[0]?.lastMessage).toMatchObject({ id: reply.data.id, text: 'reply' });
    // Bob replied, which accepts the request.
    expect(listed.data.convos[0]?.status).toBe('accepted');

    const log = await bobChat.chat.bsky.convo.getLog({ cursor: logStart });
    const created = log.data.logs.filter((l) => l.$type === 'chat.bsky.convo.defs#logCreateMessage');
    expect(created.map((l) => (l as ChatBskyConvoDefs.LogCreateMessage).message)).toMatchObject([
      { id: sent.data.id, text: firstText },
      { id: reply.data.id, text: 'reply' },
    ]);
    // Polling with the returned cursor yields nothing new, and keeps the cursor.
    const next = await bobChat.chat.bsky.convo.getLog({ cursor: log.data.cursor });
    expect(next.data.logs).toEqual([]);
    expect(next.data.cursor).toBe(log.data.cursor);
  });

  it('getLog without a cursor starts from the beginning (beginConvo first)', async () => {
    const log = await aliceChat.chat.bsky.convo.getLog({});
    expect(log.data.logs[0]).toMatchObject({ $type: 'chat.bsky.convo.defs#logBeginConvo', convoId: convo.id });
  });

  it('holds the plaintext it was sent (what later tests check never happens for encrypted chats)', async () => {
    expect(await net.chat.storedMessages()).toContain(firstText);
    await expect(fetchStoredMessages({ url: net.chat.url, debugToken: 'wrong' })).rejects.toBeInstanceOf(
      StandInDebugError,
    );
  });

  it('refuses a non-member with 403 InvalidConvo and does not store their message', async () => {
    const headers = proxied(malloryApp);
    const read = await xrpc(net.pdsUrl, 'chat.bsky.convo.getMessages', { params: { convoId: convo.id }, headers });
    expect(read).toMatchObject({ status: 403, body: { error: 'InvalidConvo' } });
    const text = `intruder ${uniqueName('msg')}`;
    const send = await xrpc(net.pdsUrl, 'chat.bsky.convo.sendMessage', {
      body: { convoId: convo.id, message: { text } },
      headers,
    });
    expect(send).toMatchObject({ status: 403, body: { error: 'InvalidConvo' } });
    expect(await net.chat.storedMessages()).not.toContain(text);
    const unknown = await xrpc(net.pdsUrl, 'chat.bsky.convo.getConvo', { params: { convoId: 'nosuchconvo' }, headers });
    expect(unknown).toMatchObject({ status: 400, body: { error: 'InvalidConvo' } });
  });

  it('rejects lexicon-invalid requests with 400 InvalidRequest, before touching state', async () => {
    const headers = proxied(aliceApp);
    const before = await net.chat.storedMessages();

    // messageInput.text: maxGraphemes 1000.
    const tooLong = await xrpc(net.pdsUrl, 'chat.bsky.convo.sendMessage', {
      body: { convoId: convo.id, message: { text: 'x'.repeat(1001) } },
      headers,
    });
    expect(tooLong).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(tooLong.body.message).toMatch(/text/);

    const missing = await xrpc(net.pdsUrl, 'chat.bsky.convo.sendMessage', { body: { convoId: convo.id }, headers });
    expect(missing).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(missing.body.message).toMatch(/message/);

    const notADid = await xrpc(net.pdsUrl, 'chat.bsky.convo.getConvoForMembers', {
      params: { members: ['not-a-did'] },
      headers,
    });
    expect(notADid).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });

    const wrongType = await xrpc(net.pdsUrl, 'chat.bsky.convo.getMessages', {
      params: { convoId: convo.id, limit: '1000' },
      headers,
    });
    expect(wrongType).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });

    expect(await net.chat.storedMessages()).toEqual(before);
  });

  it('does not answer direct calls without the PDS-signed service JWT (401)', async () => {
    const anonymous = await xrpc(net.chat.url, 'chat.bsky.convo.listConvos');
    expect(anonymous.status).toBe(401);

    // A user's own access token is for the PDS, not for the chat service.
    const accessToken = await xrpc(net.chat.url, 'chat.bsky.convo.listConvos', {
      headers: { authorization: `Bearer ${alice.accessJwt}` },
    });
    expect(accessToken.status).toBe(401);

    // Claiming to be alice with someone else's key.
    const forged = await createServiceJwt({
      iss: alice.did,
      aud: net.chat.did,
      lxm: 'chat.bsky.convo.listConvos',
      keypair: await Secp256k1Keypair.create(),
    });
    const forgedRes = await xrpc(net.chat.url, 'chat.bsky.convo.listConvos', {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(forgedRes).toMatchObject({ status: 401, body: { error: 'BadJwtSignature' } });
  });

  it('checks the audience and the method of a genuinely signed service JWT', async () => {
    const full = await resumeCreationSession(net.pdsUrl, alice);
    const call = async (aud: string, lxm: string) => {
      const { data } = await full.com.atproto.server.getServiceAuth({ aud, lxm });
      return xrpc(net.chat.url, 'chat.bsky.convo.listConvos', { headers: { authorization: `Bearer ${data.token}` } });
    };
    expect((await call(net.chat.did, 'chat.bsky.convo.listConvos')).status).toBe(200);
    expect(await call(net.pdsDid, 'chat.bsky.convo.listConvos')).toMatchObject({
      status: 401,
      body: { error: 'BadJwtAudience' },
    });
    expect(await call(net.chat.did, 'chat.bsky.convo.getConvo')).toMatchObject({
      status: 401,
      body: { error: 'BadJwtLexiconMethod' },
    });
  });

  it('is out of reach of an app password without DM access (the PDS refuses to proxy)', async () => {
    const full = await resumeCreationSession(net.pdsUrl, bob);
    const { data } = await full.com.atproto.server.createAppPassword({ name: 'no-dms' });
    const limited = new AtpAgent({ service: net.pdsUrl });
    await limited.login({ identifier: bob.handle, password: data.password });
    const res = await xrpc(net.pdsUrl, 'chat.bsky.convo.listConvos', { headers: proxied(limited) });
    expect(res).toMatchObject({ status: 400, body: { error: 'InvalidToken' } });
  });
});
