import { decodeAll } from '@atproto/lex-cbor';
import { AtmError } from '../errors';
import { isSecureEndpoint } from './identity';

/**
 * A wake-up hint from a PDS's `com.atproto.sync.subscribeRepos` stream: "this DID just wrote to
 * this collection". Nothing in a frame is trusted or used as data (frames are not verified here);
 * the caller reads the records with `PublicRepos.listRecordsAfter` and validates them as always.
 * A lost, forged or suppressed hint only makes a read earlier or later, so callers still poll.
 */

/** What we use of a WebSocket: the browser's native one and Node's `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WatchReposOptions {
  /** The PDS (https, or http on loopback for local development). */
  serviceUrl: string;
  /** Read on every frame: the caller may add and remove DIDs while the watch runs. */
  dids: ReadonlySet<string>;
  collection: string;
  /** More collections whose changes also wake (e.g. device and key-package records). */
  alsoCollections?: readonly string[];
  /**
   * `collections`: which of the watched collections the frame touched; undefined when the frame
   * cannot say (a tooBig commit, a #sync), so anything may have changed. `rkeys`: the record keys
   * of `collection` the commit created or updated (where a read for them can start), undefined
   * when the frame cannot say. Hints like the rest: a reader must not rely on them alone.
   */
  onChange(did: string, collections?: readonly string[], rkeys?: readonly string[]): void;
  /**
   * The stream is live. Changes made before this moment are not announced: read once now to
   * catch up (and after every reconnect).
   */
  onOpen?(): void;
  /** The stream failed or ended, or a frame was refused; never thrown. After a close, nothing more. */
  onError?(error: AtmError): void;
  /** Defaults to the global WebSocket (browsers, Node 22+). */
  WebSocketImpl?: WebSocketConstructor;
  maxFrameBytes?: number;
}

export interface RepoWatch {
  close(): void;
}

// A commit frame carries at most a 2 MB `blocks` CAR (atproto sync limits) plus small fields.
const DEFAULT_MAX_FRAME_BYTES = 3 * 1024 * 1024;

const SUBSCRIBE_REPOS = '/xrpc/com.atproto.sync.subscribeRepos';

function streamUrl(serviceUrl: string): string {
  if (!isSecureEndpoint(serviceUrl)) {
    throw new AtmError('InvalidInput', 'firehose endpoint must be https (http only on loopback)', { serviceUrl });
  }
  const url = new URL(SUBSCRIBE_REPOS, serviceUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

function frameBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

type Frame = { header: Record<string, unknown>; body: Record<string, unknown> };

function decodeFrame(bytes: Uint8Array): Frame | undefined {
  const items = decodeAll(bytes);
  const header = items.next();
  const body = items.next();
  if (header.done || body.done) return undefined;
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(header.value) || !isMap(body.value)) return undefined;
  return { header: header.value, body: body.value };
}

/** The DID a frame says changed a watched collection, and which ones, if it is one we watch. */
function changedRepo(
  frame: Frame,
  dids: ReadonlySet<string>,
  prefixes: readonly string[],
): { did: string; collections?: string[]; rkeys?: string[] } | undefined {
  const { header, body } = frame;
  if (header.op !== 1) return undefined;
  if (header.t === '#commit') {
    const repo = body.repo;
    if (typeof repo !== 'string' || !dids.has(repo)) return undefined;
    // A (deprecated) tooBig commit lists no ops: anything may have changed.
    if (body.tooBig === true) return { did: repo };
    const ops = Array.isArray(body.ops) ? (body.ops as unknown[]) : [];
    const touched = new Set<string>();
    const rkeys: string[] = [];
    for (const op of ops) {
      const { path, action } = (op ?? {}) as { path?: unknown; action?: unknown };
      if (typeof path !== 'string') continue;
      const prefix = prefixes.find((p) => path.startsWith(p));
      if (!prefix) continue;
      touched.add(prefix.slice(0, -1));
      // prefixes[0] is the main collection; a delete adds nothing to read.
      if (prefix === prefixes[0] && action !== 'delete') rkeys.push(path.slice(prefix.length));
    }
    return touched.size > 0 ? { did: repo, collections: [...touched], rkeys } : undefined;
  }
  // The repo was re-synced to a state no commit frame describes: anything may have changed.
  if (header.t === '#sync') {
    const did = body.did;
    return typeof did === 'string' && dids.has(did) ? { did } : undefined;
  }
  return undefined;
}

/**
 * Subscribes to the live tail of the PDS's repo event stream (no cursor: hints about the past
 * are worthless, the caller catches up by reading). Reconnecting is the caller's choice, on
 * `onError`.
 */
export function watchRepos(options: WatchReposOptions): RepoWatch {
  const { dids, onChange } = options;
  if (!options.collection || options.collection.includes('/')) {
    throw new AtmError('InvalidInput', 'not a collection NSID', { collection: options.collection });
  }
  const url = streamUrl(options.serviceUrl);
  const Impl = options.WebSocketImpl ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
  if (!Impl) throw new AtmError('Internal', 'no WebSocket implementation available');
  for (const extra of options.alsoCollections ?? []) {
    if (!extra || extra.includes('/')) throw new AtmError('InvalidInput', 'not a collection NSID', { collection: extra });
  }
  const prefixes = [options.collection, ...(options.alsoCollections ?? [])].map((c) => `${c}/`);
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  let closed = false;

  const notify = (error: AtmError): void => {
    try {
      options.onError?.(error);
    } catch {
      // A failing callback must not take the stream (or the event loop) down with it.
    }
  };
  const report = (error: AtmError): void => {
    if (!closed) notify(error);
  };

  let socket: WebSocketLike;
  try {
    socket = new Impl(url);
    socket.binaryType = 'arraybuffer';
  } catch (error) {
    // E.g. a browser's connect-src policy refusing the URL: reported like any failed connection.
    const refused = new AtmError('Network', 'firehose connection refused', { url, reason: (error as Error)?.name });
    // Reported after we return, as every other failure is.
    queueMicrotask(() => notify(refused));
    closed = true;
    return { close() {} };
  }

  // Once the stream fails it is over: one report, then silence.
  const fail = (error: AtmError): void => {
    report(error);
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {
      // Already closing.
    }
  };

  socket.addEventListener('open', () => {
    if (closed) return;
    try {
      options.onOpen?.();
    } catch {
      // As for onChange: the caller's failure is the caller's to report.
    }
  });
  socket.addEventListener('message', (event) => {
    if (closed) return;
    const bytes = frameBytes(event.data);
    if (!bytes) {
      report(new AtmError('Network', 'firehose frame is not binary', { url }));
      return;
    }
    if (bytes.byteLength > maxFrameBytes) {
      report(new AtmError('PayloadTooLarge', 'firehose frame too large', { url, maxBytes: maxFrameBytes }));
      return;
    }
    let frame: Frame | undefined;
    try {
      frame = decodeFrame(bytes);
    } catch {
      frame = undefined;
    }
    if (!frame) {
      report(new AtmError('Network', 'firehose frame is not a DAG-CBOR header and body', { url }));
      return;
    }
    if (frame.header.op === -1) {
      const error = typeof frame.body.error === 'string' ? frame.body.error : undefined;
      fail(new AtmError('Network', 'firehose answered with an error', { url, error }));
      return;
    }
    const changed = changedRepo(frame, dids, prefixes);
    if (changed === undefined) return;
    try {
      onChange(changed.did, changed.collections, changed.rkeys);
    } catch {
      // The hint is best-effort; the caller's failure is the caller's to report.
    }
  });
  socket.addEventListener('error', () => {
    fail(new AtmError('Network', 'firehose connection failed', { url }));
  });
  socket.addEventListener('close', (event) => {
    fail(new AtmError('Network', 'firehose closed', { url, code: event.code }));
  });

  return {
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}
