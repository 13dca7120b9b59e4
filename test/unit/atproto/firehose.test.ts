import { encode } from '@atproto/lex-cbor';
import type { LexValue } from '@atproto/lex-data';
import { describe, expect, it } from 'vitest';
import { watchRepos, type WebSocketLike } from '../../../src/atproto/firehose';
import type { AtmError, AtmErrorCode } from '../../../src/errors';

// watchRepos against a scripted socket: which frames wake the caller, and how failures surface.

const ALICE = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const COLLECTION = 'org.atmessaging.event';

type Listener = (event?: unknown) => void;

class FakeSocket implements WebSocketLike {
  static last: FakeSocket | undefined;
  binaryType = 'blob';
  closed = false;
  private readonly listeners = new Map<string, Listener[]>();
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  addEventListener(type: 'open' | 'message' | 'error' | 'close', listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as Listener]);
  }
  close(): void {
    this.closed = true;
  }
  emit(type: string, event?: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
  frame(bytes: Uint8Array): void {
    this.emit('message', { data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
}

function frame(header: LexValue, body: LexValue): Uint8Array {
  const h = encode(header);
  const b = encode(body);
  const out = new Uint8Array(h.length + b.length);
  out.set(h);
  out.set(b, h.length);
  return out;
}

function commit(repo: string, paths: string[], extra: Record<string, LexValue> = {}): Uint8Array {
  return frame(
    { op: 1, t: '#commit' },
    {
      seq: 1,
      repo,
      rev: '3lc2222222222',
      ops: paths.map((path) => ({ action: 'create', path, cid: null })),
      blocks: new Uint8Array(8),
      ...extra,
    },
  );
}

function start(options: { maxFrameBytes?: number; dids?: Set<string> } = {}) {
  const changes: string[] = [];
  const errors: AtmErrorCode[] = [];
  const watch = watchRepos({
    serviceUrl: 'https://pds.example',
    dids: options.dids ?? new Set([ALICE]),
    collection: COLLECTION,
    onChange: (did) => changes.push(did),
    onError: (error: AtmError) => errors.push(error.code),
    WebSocketImpl: FakeSocket,
    ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
  });
  return { watch, socket: FakeSocket.last!, changes, errors };
}

describe('watchRepos', () => {
  it('opens the live stream (no cursor) over wss, reading binary frames', () => {
    const { socket } = start();
    expect(socket.url).toBe('wss://pds.example/xrpc/com.atproto.sync.subscribeRepos');
    expect(socket.binaryType).toBe('arraybuffer');
  });

  it('wakes up for a watched DID writing to the collection, and nothing else', () => {
    const dids = new Set([ALICE]);
    const { socket, changes, errors } = start({ dids });
    socket.frame(commit(BOB, [`${COLLECTION}/3lc2222222222`]));
    socket.frame(commit(ALICE, ['org.atmessaging.device/3lc2222222222']));
    socket.frame(commit(ALICE, [`${COLLECTION}x/3lc2222222222`]));
    socket.frame(frame({ op: 1, t: '#identity' }, { seq: 2, did: ALICE }));
    expect(changes).toEqual([]);
    socket.frame(commit(ALICE, ['org.atmessaging.device/3lc2222222222', `${COLLECTION}/3lc2222222222`]));
    expect(changes).toEqual([ALICE]);
    // The set is read on every frame.
    dids.add(BOB);
    socket.frame(commit(BOB, [`${COLLECTION}/3lc2222222223`]));
    // A tooBig commit and a #sync say nothing of what changed: wake up.
    socket.frame(commit(ALICE, [], { tooBig: true }));
    socket.frame(frame({ op: 1, t: '#sync' }, { seq: 3, did: ALICE, rev: '3lc2222222224' }));
    expect(changes).toEqual([ALICE, BOB, ALICE, ALICE]);
    expect(errors).toEqual([]);
  });

  it('names the event records a commit created or updated (not deleted), undefined when it cannot say', () => {
    const seen: Array<readonly string[] | undefined> = [];
    FakeSocket.last = undefined;
    watchRepos({
      serviceUrl: 'https://pds.example',
      dids: new Set([ALICE]),
      collection: COLLECTION,
      alsoCollections: ['org.atmessaging.device'],
      onChange: (_did, _collections, rkeys) => seen.push(rkeys),
      WebSocketImpl: FakeSocket,
    });
    const socket = FakeSocket.last!;
    const op = (action: string, path: string) => ({ action, path, cid: null });
    socket.frame(frame({ op: 1, t: '#commit' }, { seq: 1, repo: ALICE, rev: '3lc2222222222', blocks: new Uint8Array(8), ops: [
      op('create', `${COLLECTION}/3lc2222222223`),
      op('update', `${COLLECTION}/3lc2222222222`),
      op('delete', `${COLLECTION}/3lc2222222221`),
      op('create', 'org.atmessaging.device/3lc2222222225'),
    ] }));
    socket.frame(frame({ op: 1, t: '#commit' }, { seq: 2, repo: ALICE, rev: '3lc2222222223', blocks: new Uint8Array(8), ops: [op('delete', `${COLLECTION}/3lc2222222223`)] }));
    socket.frame(commit(ALICE, [], { tooBig: true }));
    expect(seen).toEqual([['3lc2222222223', '3lc2222222222'], [], undefined]);
  });

  it('reports and skips oversized, undecodable and text frames, and keeps going', () => {
    const { socket, changes, errors } = start({ maxFrameBytes: 200 });
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222222`], { blocks: new Uint8Array(300) }));
    socket.frame(new Uint8Array([0xff, 0x00, 0x13]));
    socket.frame(encode({ op: 1, t: '#commit' }));
    socket.emit('message', { data: 'hello' });
    expect(errors).toEqual(['PayloadTooLarge', 'Network', 'Network', 'Network']);
    expect(socket.closed).toBe(false);
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222222`]));
    expect(changes).toEqual([ALICE]);
  });

  it('an error frame ends the stream: one report, then silence', () => {
    const { socket, changes, errors } = start();
    socket.frame(frame({ op: -1 }, { error: 'FutureCursor', message: 'nope' }));
    expect(socket.closed).toBe(true);
    socket.emit('close', { code: 1000, reason: '' });
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222222`]));
    expect(errors).toEqual(['Network']);
    expect(changes).toEqual([]);
  });

  it('a failed or closed connection is reported once, without throwing', () => {
    const { socket, errors } = start();
    socket.emit('error', new Error('ECONNRESET'));
    socket.emit('close', { code: 1006, reason: '' });
    expect(errors).toEqual(['Network']);
  });

  it('close() is silent, and callbacks that throw do not break the stream', () => {
    const changes: string[] = [];
    const errors: string[] = [];
    const watch = watchRepos({
      serviceUrl: 'http://localhost:2583',
      dids: new Set([ALICE]),
      collection: COLLECTION,
      onChange: (did) => {
        changes.push(did);
        throw new Error('caller bug');
      },
      onError: (error) => errors.push(error.code),
      WebSocketImpl: FakeSocket,
    });
    const socket = FakeSocket.last!;
    expect(socket.url).toBe('ws://localhost:2583/xrpc/com.atproto.sync.subscribeRepos');
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222222`]));
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222223`]));
    expect(changes).toEqual([ALICE, ALICE]);
    watch.close();
    socket.emit('close', { code: 1000, reason: '' });
    socket.frame(commit(ALICE, [`${COLLECTION}/3lc2222222224`]));
    expect(changes).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('refuses plain http off loopback; reports a socket that cannot be constructed', async () => {
    const base = {
      dids: new Set([ALICE]),
      collection: COLLECTION,
      onChange: () => undefined,
      WebSocketImpl: FakeSocket,
    };
    expect(() => watchRepos({ ...base, serviceUrl: 'http://pds.example' })).toThrow(
      expect.objectContaining({ code: 'InvalidInput' }),
    );
    const errors: string[] = [];
    class Refusing extends FakeSocket {
      constructor(url: string) {
        super(url);
        throw new DOMException('blocked', 'SecurityError');
      }
    }
    const watch = watchRepos({
      ...base,
      serviceUrl: 'https://pds.example',
      WebSocketImpl: Refusing,
      onError: (e) => errors.push(e.code),
    });
    expect(errors).toEqual([]);
    await Promise.resolve();
    expect(errors).toEqual(['Network']);
    watch.close();
  });
});
