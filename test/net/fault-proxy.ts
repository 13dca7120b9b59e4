import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mulberry32 } from '../fuzz/lib/prng';

/**
 * A fault-injecting HTTP proxy in front of a real server (the local PDS). Devices under test
 * talk to the PDS through one of these; the proxy forwards every request unchanged except where
 * a rule says otherwise, and counts every fault it injected.
 *
 * Faults a rule can inject:
 * - `status`: answer 500/502/503 (or any code) without forwarding;
 * - `delay`: hold the request `ms` (past the client's timeout), then forward it anyway (the
 *   write lands, the answer is lost: what a slow PDS does to a client that gave up) or not;
 * - `drop`: destroy the connection without an answer, before forwarding, or after the PDS
 *   answered (the write landed, the answer is lost);
 * - `listing`: forward, then rewrite a `com.atproto.repo.listRecords` answer (shuffle its
 *   records, serve a record twice, hide records): what a misbehaving PDS or relay can serve.
 * `offline()` closes the listening socket and every open connection: connections are refused.
 *
 * Probabilistic rules draw from a seeded PRNG (mulberry32), so a run can be replayed.
 */

export interface Match {
  method?: string;
  /** Exact path, e.g. '/xrpc/com.atproto.repo.putRecord'. */
  path?: string;
  /** XRPC method id, e.g. 'com.atproto.repo.listRecords'. */
  nsid?: string;
  /** Any other test on the request (its URL with query). */
  test?: (req: { method: string; url: URL }) => boolean;
}

export interface ListingRecord {
  uri: string;
  cid: string;
  value: unknown;
}

export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'delay'; ms: number; forward: boolean }
  | { kind: 'drop'; when: 'before' | 'after' }
  | { kind: 'listing'; rewrite: (records: ListingRecord[], random: () => number) => ListingRecord[] };

export interface Rule {
  name?: string;
  match?: Match;
  fault: Fault;
  /** Fire with this probability (seeded PRNG); default 1. */
  probability?: number;
  /** Fire on the next `times` matching requests (after probability), then stop. */
  times?: number;
}

export interface InjectedCounts {
  status: number;
  delay: number;
  drop: number;
  listing: number;
  /** Connections refused or cut while offline. */
  offline: number;
}

interface ActiveRule extends Rule {
  id: number;
  fired: number;
}

export interface FaultProxy {
  readonly url: string;
  addRule(rule: Rule): () => void;
  clearRules(): void;
  offline(): Promise<void>;
  online(): Promise<void>;
  readonly injected: InjectedCounts;
  /** Sum of `injected`. */
  totalInjected(): number;
  /** Requests forwarded to the target (whatever happened to their answers). */
  readonly forwarded: number;
  /**
   * The client side: a fetch that gives up after `timeoutMs` (as the extension's does) and counts
   * a refused connection while offline as an injected fault (the proxy cannot see those).
   */
  clientFetch(timeoutMs: number): typeof globalThis.fetch;
  close(): Promise<void>;
}

/** The fuzzer's mulberry32 (test/fuzz/lib/prng.ts): good enough for choosing faults, not for secrets. */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed).next;
}

function matches(match: Match | undefined, method: string, url: URL): boolean {
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== method) return false;
  if (match.path && match.path !== url.pathname) return false;
  if (match.nsid && url.pathname !== `/xrpc/${match.nsid}`) return false;
  if (match.test && !match.test({ method, url })) return false;
  return true;
}

export async function startFaultProxy(target: string, options: { seed?: number } = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const random = seededRandom(options.seed ?? 1);
  const rules: ActiveRule[] = [];
  let nextId = 0;
  const injected: InjectedCounts = { status: 0, delay: 0, drop: 0, listing: 0, offline: 0 };
  let forwarded = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  /** The first rule that fires for this request, counted as fired. */
  function pick(method: string, url: URL): ActiveRule | undefined {
    for (const rule of rules) {
      if (!matches(rule.match, method, url)) continue;
      if (rule.times !== undefined && rule.fired >= rule.times) continue;
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      rule.fired++;
      return rule;
    }
    return undefined;
  }

  function forward(req: IncomingMessage, body: Buffer, onAnswer: (status: number, headers: IncomingMessage['headers'], body: Buffer) => void, onError: () => void) {
    forwarded++;
    const headers = { ...req.headers, host: upstream.host };
    // Answers come back uncompressed, so a listing can be rewritten (and re-sent as it is).
    delete headers['accept-encoding'];
    const out = httpRequest(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => onAnswer(res.statusCode ?? 502, res.headers, Buffer.concat(chunks)));
        res.on('error', onError);
      },
    );
    out.on('error', onError);
    out.end(body);
  }

  function answer(res: ServerResponse, status: number, headers: IncomingMessage['headers'], body: Buffer) {
    if (res.destroyed) return;
    const clean = { ...headers };
    delete clean['transfer-encoding'];
    delete clean['content-length'];
    delete clean.connection;
    res.writeHead(status, { ...clean, 'content-length': String(body.length) });
    res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', upstream);
    const rule = pick(method, url);
    const plain = () =>
      forward(req, body, (s, h, b) => answer(res, s, h, b), () => res.destroy());
    if (!rule) return plain();
    const fault = rule.fault;
    switch (fault.kind) {
      case 'status': {
        injected.status++;
        const message = JSON.stringify({ error: 'InjectedFault', message: `fault proxy answered ${fault.status}` });
        return answer(res, fault.status, { 'content-type': 'application/json' }, Buffer.from(message));
      }
      case 'delay': {
        injected.delay++;
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (fault.forward) plain();
          else res.destroy();
        }, fault.ms);
        timers.add(timer);
        return;
      }
      case 'drop': {
        injected.drop++;
        if (fault.when === 'before') return req.socket.destroy();
        return forward(req, body, () => req.socket.destroy(), () => req.socket.destroy());
      }
      case 'listing': {
        return forward(
          req,
          body,
          (status, headers, raw) => {
            if (status !== 200 || url.pathname !== '/xrpc/com.atproto.repo.listRecords') return answer(res, status, headers, raw);
            if (headers['content-encoding'] && headers['content-encoding'] !== 'identity') return answer(res, status, headers, raw);
            const page = JSON.parse(raw.toString('utf8')) as { records: ListingRecord[]; cursor?: string };
            const before = JSON.stringify(page.records.map((r) => r.uri));
            page.records = fault.rewrite(page.records, random);
            // Only a listing actually changed counts as an injected fault.
            if (JSON.stringify(page.records.map((r) => r.uri)) !== before) injected.listing++;
            answer(res, status, headers, Buffer.from(JSON.stringify(page)));
          },
          () => res.destroy(),
        );
      }
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let isOffline = false;

  return {
    url: `http://127.0.0.1:${port}`,
    addRule(rule) {
      const active: ActiveRule = { ...rule, id: nextId++, fired: 0 };
      rules.push(active);
      return () => {
        const i = rules.indexOf(active);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clearRules: () => void rules.splice(0, rules.length),
    async offline() {
      if (isOffline) return;
      isOffline = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open keep-alive connections are cut too: nothing gets through while offline.
      for (const s of sockets) s.destroy();
      await closed;
    },
    async online() {
      if (!isOffline) return;
      isOffline = false;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    injected,
    totalInjected: () => Object.values(injected).reduce((a, b) => a + b, 0),
    get forwarded() {
      return forwarded;
    },
    clientFetch(timeoutMs) {
      return async (input, init) => {
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
        try {
          return await fetch(input, { ...init, signal });
        } catch (error) {
          if (isOffline) injected.offline++;
          throw error;
        }
      };
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      if (!isOffline) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
