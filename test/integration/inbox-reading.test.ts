import { randomBytes } from 'node:crypto';
import type { AtpAgent } from '@atproto/api';
import { cidForRawBytes } from '@atproto/lex-data';
import { WebSocket as NodeWebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { watchRepos, type RepoWatch, type WebSocketConstructor } from '../../src/atproto/firehose';
import { createIdentityResolver } from '../../src/atproto/identity';
import { publicRepos } from '../../src/atproto/repos';
import { newTid } from '../../src/engine/tid';
import type { PublicRepos } from '../../src/engine/ports';
import { isAtmError, type AtmErrorCode } from '../../src/errors';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord } from '../../src/protocol/records';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';

// Reading another user's events from their own PDS, against the real local PDS: pages after a
// cursor (oldest first), blobs checked against their CID, and the firehose as a wake-up hint.

const net = attachNetwork(inject('network'));

// Node 22+ and browsers have a global WebSocket; Node 20 runs these tests with `ws`.
const WebSocketImpl = ((globalThis as { WebSocket?: unknown }).WebSocket ?? NodeWebSocket) as WebSocketConstructor;

const OTHER_COLLECTION = 'org.atmessaging.testOther';

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** A lexicon-valid event record as XRPC JSON; `tag` is random, so every event differs. */
function eventJson(extra: { blob?: unknown } = {}): Record<string, unknown> {
  return {
    $type: EVENT_COLLECTION_NSID,
    tag: { $bytes: b64(randomBytes(16)) },
    ...(extra.blob ? { blob: extra.blob } : { ciphertext: { $bytes: b64(randomBytes(64)) } }),
  };
}

async function putEvent(agent: AtpAgent, did: string, rkey: string, record = eventJson()): Promise<void> {
  await agent.com.atproto.repo.putRecord({ repo: did, collection: EVENT_COLLECTION_NSID, rkey, record });
}

async function failure(p: Promise<unknown>): Promise<AtmErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return isAtmError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let alice: Account;
let bob: Account;
let aliceAgent: AtpAgent;
let bobAgent: AtpAgent;
let reader: PublicRepos;

beforeAll(async () => {
  [alice, bob] = await Promise.all([
    net.createAccount(uniqueName('inbalice')),
    net.createAccount(uniqueName('inbbob')),
  ]);
  [aliceAgent, bobAgent] = await Promise.all([
    resumeCreationSession(net.pdsUrl, alice),
    resumeCreationSession(net.pdsUrl, bob),
  ]);
  reader = publicRepos({ identity: createIdentityResolver({ plcUrl: net.plcUrl }) });
});

describe('listRecordsAfter', () => {
  const rkeys: string[] = [];
  const rkeysOf = (page: { records: { rkey: string }[] }) => page.records.map((r) => r.rkey);

  beforeAll(async () => {
    for (let i = 0; i < 7; i++) {
      const rkey = newTid();
      rkeys.push(rkey);
      await putEvent(aliceAgent, alice.did, rkey);
      // A record of another collection between them never shows up in the event pages.
      if (i === 3) {
        await aliceAgent.com.atproto.repo.putRecord({
          repo: alice.did,
          collection: OTHER_COLLECTION,
          rkey: newTid(),
          record: { $type: OTHER_COLLECTION },
        });
      }
    }
  });

  it('the PDS: reverse=true lists ascending by rkey and reads `cursor` as "rkey greater than"', async () => {
    const raw = async (params: Record<string, string>) => {
      const url = new URL('/xrpc/com.atproto.repo.listRecords', net.pdsUrl);
      url.search = new URLSearchParams({ repo: alice.did, collection: EVENT_COLLECTION_NSID, ...params }).toString();
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { records: { uri: string }[]; cursor?: string };
      return { rkeys: body.records.map((r) => r.uri.split('/').pop()), cursor: body.cursor };
    };
    expect(await raw({ reverse: 'true', limit: '3', cursor: rkeys[1]! })).toEqual({
      rkeys: rkeys.slice(2, 5),
      cursor: rkeys[4],
    });
    // Even a short last page carries a cursor (the last rkey); only an empty page has none.
    expect(await raw({ reverse: 'true', limit: '3', cursor: rkeys[4]! })).toEqual({
      rkeys: rkeys.slice(5),
      cursor: rkeys[6],
    });
    expect(await raw({ reverse: 'true', limit: '3', cursor: rkeys[6]! })).toEqual({ rkeys: [], cursor: undefined });
    // Without reverse: newest first, and `cursor` means "rkey less than".
    expect(await raw({ limit: '3', cursor: rkeys[4]! })).toEqual({
      rkeys: [rkeys[3], rkeys[2], rkeys[1]],
      cursor: rkeys[1],
    });
  });

  it('reads pages of 3 oldest first, after any cursor, with a cursor only while more may follow', async () => {
    const first = await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, undefined, 3);
    expect(rkeysOf(first)).toEqual(rkeys.slice(0, 3));
    expect(first.cursor).toBe(rkeys[2]);
    const second = await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, first.cursor, 3);
    expect(rkeysOf(second)).toEqual(rkeys.slice(3, 6));
    expect(second.cursor).toBe(rkeys[5]);
    const third = await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, second.cursor, 3);
    expect(rkeysOf(third)).toEqual(rkeys.slice(6));
    expect(third.cursor).toBeUndefined();

    expect(rkeysOf(await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, rkeys[0], 3))).toEqual(
      rkeys.slice(1, 4),
    );
    expect(rkeysOf(await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, rkeys[6], 3))).toEqual([]);
    // A cursor that is no record's key: everything strictly after it.
    expect(rkeysOf(await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, '2222222222222', 100))).toEqual(
      rkeys,
    );

    // What comes back is the records themselves, lexicon-valid and in alice's repo.
    for (const record of first.records) {
      expect(record.uri).toBe(`at://${alice.did}/${EVENT_COLLECTION_NSID}/${record.rkey}`);
      expect(parseRecord(EVENT, record.value, record.uri).tag).toHaveLength(16);
    }
  });

  it('a record written later appears after the cursor; a deleted record disappears', async () => {
    const later = newTid();
    await putEvent(aliceAgent, alice.did, later);
    const after = await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, rkeys[6], 3);
    expect(rkeysOf(after)).toEqual([later]);
    expect(after.cursor).toBeUndefined();

    await aliceAgent.com.atproto.repo.deleteRecord({
      repo: alice.did,
      collection: EVENT_COLLECTION_NSID,
      rkey: rkeys[4]!,
    });
    const page = await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, rkeys[2], 3);
    expect(rkeysOf(page)).toEqual([rkeys[3], rkeys[5], rkeys[6]]);
    expect(page.cursor).toBe(rkeys[6]);
    expect(rkeysOf(await reader.listRecordsAfter(alice.did, EVENT_COLLECTION_NSID, page.cursor, 3))).toEqual([later]);
  });

  it('an account with no events: an empty page, no cursor', async () => {
    expect(await reader.listRecordsAfter(bob.did, EVENT_COLLECTION_NSID, undefined, 3)).toEqual({ records: [] });
  });
});

describe('getBlob', () => {
  let bytes: Uint8Array;
  let cid: string;

  beforeAll(async () => {
    bytes = new Uint8Array(randomBytes(100_000));
    const uploaded = await aliceAgent.com.atproto.repo.uploadBlob(bytes, { encoding: 'application/octet-stream' });
    cid = uploaded.data.blob.ref.toString();
    // An unreferenced blob stays in the PDS's temporary storage: a record makes it part of the repo.
    const record = eventJson({
      blob: { $type: 'blob', ref: { $link: cid }, mimeType: 'application/octet-stream', size: bytes.length },
    });
    expect(parseRecord(EVENT, record).blob).toBeDefined();
    await putEvent(aliceAgent, alice.did, newTid(), record);
  });

  it('returns the bytes of a blob referenced from an event record', async () => {
    expect(cid).toBe((await cidForRawBytes(bytes)).toString());
    expect(await reader.getBlob(alice.did, cid)).toEqual(bytes);
  });

  it('refuses a CID the PDS does not have, a CID that is not a blob CID, and bytes of another blob', async () => {
    const absent = (await cidForRawBytes(new Uint8Array(randomBytes(32)))).toString();
    expect(await failure(reader.getBlob(alice.did, absent))).toBe('RemoteRefused'); // the PDS answers 400 BlobNotFound: final
    // A DAG-CBOR (record) CID names no blob.
    const recordCid = (
      await aliceAgent.com.atproto.repo.listRecords({ repo: alice.did, collection: EVENT_COLLECTION_NSID })
    ).data.records[0]!.cid;
    expect(await failure(reader.getBlob(alice.did, recordCid))).toBe('InvalidInput');
    expect(await failure(reader.getBlob(alice.did, 'not-a-cid'))).toBe('InvalidInput');

    // A PDS answering with other bytes than those asked for (here: real bytes of another blob).
    const otherBytes = new Uint8Array(randomBytes(1_000));
    const other = await aliceAgent.com.atproto.repo.uploadBlob(otherBytes, { encoding: 'application/octet-stream' });
    const otherCid = other.data.blob.ref.toString();
    await putEvent(
      aliceAgent,
      alice.did,
      newTid(),
      eventJson({
        blob: { $type: 'blob', ref: { $link: otherCid }, mimeType: 'application/octet-stream', size: 1_000 },
      }),
    );
    const lying = publicRepos({
      identity: createIdentityResolver({ plcUrl: net.plcUrl }),
      fetch: (input, init) => fetch(input.includes('getBlob') ? input.replace(cid, otherCid) : input, init),
    });
    expect(await failure(lying.getBlob(alice.did, cid))).toBe('ProofInvalid');
  });
});

describe('watchRepos', () => {
  let watch: RepoWatch | undefined;

  afterAll(() => watch?.close());

  it("wakes up on a watched DID's event write, and not for other DIDs or collections", async () => {
    const changes: Array<{ did: string; rkeys?: readonly string[] }> = [];
    const errors: unknown[] = [];
    let open = false;
    watch = watchRepos({
      serviceUrl: net.pdsUrl,
      dids: new Set([alice.did]),
      collection: EVENT_COLLECTION_NSID,
      onChange: (did, _collections, rkeys) => changes.push({ did, rkeys }),
      onOpen: () => (open = true),
      onError: (error) => errors.push(error),
      WebSocketImpl,
    });
    await until(() => open);
    // Writes of earlier tests may still be on their way through the PDS's sequencer when the
    // socket opens (on a loaded machine, even after this pause): they name other records.
    await new Promise((resolve) => setTimeout(resolve, 500));
    changes.length = 0;

    // The stream is ordered: once alice's event write is announced, the two writes before it
    // have been seen and ignored.
    await putEvent(bobAgent, bob.did, newTid());
    await aliceAgent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: OTHER_COLLECTION,
      rkey: newTid(),
      record: { $type: OTHER_COLLECTION },
    });
    const rkey = newTid();
    await putEvent(aliceAgent, alice.did, rkey);
    await until(() => changes.some((c) => c.rkeys?.includes(rkey)));
    expect(changes.every((c) => c.did === alice.did)).toBe(true);
    expect(changes.filter((c) => c.rkeys?.includes(rkey))).toEqual([{ did: alice.did, rkeys: [rkey] }]);
    const seen = changes.length;

    // A deletion is a change too (the reader finds the record gone), with nothing new to read.
    await aliceAgent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: EVENT_COLLECTION_NSID, rkey });
    await until(() => changes.length > seen);
    expect(changes.slice(seen)).toEqual([{ did: alice.did, rkeys: [] }]);

    watch.close();
    await putEvent(aliceAgent, alice.did, newTid());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(changes).toHaveLength(seen + 1);
    expect(errors).toEqual([]);
  });

  it('reports a stream it cannot open, without throwing', async () => {
    const errors: AtmErrorCode[] = [];
    // A loopback port nothing listens on.
    const w = watchRepos({
      serviceUrl: 'http://127.0.0.1:9',
      dids: new Set([alice.did]),
      collection: EVENT_COLLECTION_NSID,
      onChange: () => undefined,
      onError: (error) => errors.push(error.code),
      WebSocketImpl,
    });
    await until(() => errors.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual(['Network']);
    w.close();
  });
});
