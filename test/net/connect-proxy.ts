import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, isIPv4, type AddressInfo, type Socket } from 'node:net';

/**
 * A tiny HTTP proxy that only tunnels (CONNECT) to an explicit allow-list of `host:port`
 * targets, each mapped to a loopback address. Everything else — other hosts, plain-HTTP proxy
 * requests, targets not on loopback — is refused, so a browser pointed at it can never reach
 * anything but this machine. Used by Firefox, which has no `--host-resolver-rules`.
 */
export interface ConnectTarget {
  /** Must be a loopback address: 127.x.x.x, ::1 or localhost. */
  host: string;
  port: number;
}

export interface ConnectProxyOptions {
  /** e.g. `{ 'bsky.app:443': { host: '127.0.0.1', port: replica.port } }` (keys are case-insensitive). */
  routes: Record<string, ConnectTarget>;
  /** TCP port on 127.0.0.1; 0 or omitted picks a free one. */
  port?: number;
}

export interface ConnectProxy {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every refused request target, in order (`host:port` for CONNECT, the URL otherwise). */
  readonly refused: readonly string[];
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
  return isIPv4(host) && host.startsWith('127.');
}

export async function startConnectProxy(options: ConnectProxyOptions): Promise<ConnectProxy> {
  const routes = new Map<string, ConnectTarget>();
  for (const [key, target] of Object.entries(options.routes)) {
    if (!isLoopback(target.host)) {
      throw new Error(`connect-proxy: ${key} maps to ${target.host}, which is not loopback`);
    }
    routes.set(key.toLowerCase(), target);
  }
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };

  const server: Server = createServer((req, res) => {
    // Plain-HTTP proxying (GET http://host/...) is never allowed.
    refused.push(req.url ?? '');
    res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end('refused by test proxy\n');
  });
  server.on('connection', track);

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = routes.get((req.url ?? '').toLowerCase());
    client.on('error', () => {});
    if (!target) {
      refused.push(req.url ?? '');
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      else client.destroy();
    });
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    refused,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
