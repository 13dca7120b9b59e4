import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createSelfSignedCert } from '../certs';

/**
 * A local HTTPS replica of bsky.app's DM screens, for end-to-end tests and `npm start`.
 *
 * It is a tiny framework-free SPA (app/app.js) that routes with history.pushState like bsky.app
 * and, like bsky.app's react-navigation stack, keeps earlier screens in the DOM but hidden
 * (display:none on the screen container) until they are popped by going back. Routes:
 *   /                      home
 *   /messages              inbox: one link per configured conversation
 *   /messages/settings     chat settings (a /messages/* route that is not a conversation)
 *   /messages/:convoId     <div data-testid="convoScreen">: header, messages, <textarea> composer
 *   /profile/:handle       a profile screen (somewhere that is not messages)
 *   /settings/appearance   colour mode (system / light / dark) and dark theme (dim / dark)
 * A left nav is always visible with Home / Messages / Profile / Appearance and a link per
 * conversation. Like bsky.app, the theme in use is a `theme--light|dim|dark` class on <html>,
 * following the system colour scheme in the default "system" mode.
 *
 * Browsers reach it as https://bsky.app through a host mapping (Chromium
 * `--host-resolver-rules`) or the CONNECT proxy (Firefox); the certificate is self-signed.
 */
export interface ReplicaConvo {
  /** bsky.app's conversation id, used in `/messages/<id>` (keep to [A-Za-z0-9._~:-]). */
  id: string;
  /** What the header and inbox show (the other member's name). */
  title: string;
}

export interface ReplicaOptions {
  convos: readonly ReplicaConvo[];
  /** TCP port on 127.0.0.1; 0 or omitted picks a free one. */
  port?: number;
  /** The conversation screen shows a loading state this long before its content, like
   *  bsky.app fetching messages. Default 30 ms. */
  convoLoadDelayMs?: number;
}

export interface Replica {
  /** Where the server really listens, e.g. `https://127.0.0.1:40123`. */
  url: string;
  /** The origin browsers are pointed at through the host mapping. */
  origin: 'https://bsky.app';
  port: number;
  /** PEM of the self-signed certificate (for clients that want to pin it). */
  cert: string;
  close(): Promise<void>;
}

const APP_DIR = fileURLToPath(new URL('./app/', import.meta.url));

const STATIC: Record<string, { file: string; type: string }> = {
  '/_replica/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/_replica/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

function jsonForScript(value: unknown): string {
  // Safe inside <script type="application/json">: no "</script" or "<!--" can appear.
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

function validateConvos(convos: readonly ReplicaConvo[]): void {
  const seen = new Set<string>();
  for (const c of convos) {
    if (!/^[A-Za-z0-9._~:-]{1,128}$/.test(c.id)) throw new Error(`replica: bad convo id ${JSON.stringify(c.id)}`);
    if (seen.has(c.id)) throw new Error(`replica: duplicate convo id ${c.id}`);
    seen.add(c.id);
  }
}

export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  validateConvos(options.convos);
  const [template, cert] = await Promise.all([
    readFile(`${APP_DIR}index.html`, 'utf8'),
    createSelfSignedCert(['bsky.app']),
  ]);
  const config = {
    convos: options.convos.map(({ id, title }) => ({ id, title })),
    convoLoadDelayMs: options.convoLoadDelayMs ?? 30,
  };
  const html = template.replace('__REPLICA_CONFIG__', () => jsonForScript(config));

  const server: Server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://bsky.app');
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    const asset = STATIC[url.pathname];
    if (asset) {
      readFile(`${APP_DIR}${asset.file}`).then(
        (body) => res.writeHead(200, { ...headers, 'content-type': asset.type }).end(body),
        () => res.writeHead(500, headers).end(),
      );
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204, headers).end();
      return;
    }
    if (url.pathname.startsWith('/_replica/')) {
      res.writeHead(404, headers).end();
      return;
    }
    // Every other path is the SPA, as on bsky.app (the client router renders the route).
    res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(html);
  });

  const sockets = new Set<Duplex>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A browser that gives up on a TLS handshake is not an error worth crashing a test run for.
  server.on('tlsClientError', () => {});

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
    url: `https://127.0.0.1:${port}`,
    origin: 'https://bsky.app',
    port,
    cert: cert.cert,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
