import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPds } from '@atproto/dev-env/dist/pds';
import type { TestPlc } from '@atproto/dev-env/dist/plc';
import { createAccount, type Account } from './accounts';
import { startChatStandIn } from './chat-standin';

export type { Account } from './accounts';

// dev-env is CommonJS without an exports map; its subpaths load much faster than its root
// (which pulls in the AppView, Ozone, ...). createRequire works the same under vitest, tsx and
// plain Node ESM, where a bare `import '.../dist/plc'` would need the `.js` extension.
const require = createRequire(import.meta.url);
const devEnvPlc = require('@atproto/dev-env/dist/plc') as typeof import('@atproto/dev-env/dist/plc');
const devEnvPds = require('@atproto/dev-env/dist/pds') as typeof import('@atproto/dev-env/dist/pds');
const devEnvUtil = require('@atproto/dev-env/dist/util') as typeof import('@atproto/dev-env/dist/util');

/** How to reach the chat stand-in; plain data, safe to hand to vitest workers via provide(). */
export interface ChatServiceInfo {
  did: string;
  url: string;
  serviceId: '#bsky_chat';
  /** `atproto-proxy` header value: `<did>#bsky_chat`. */
  proxyHeader: string;
  /** Bearer token for the stand-in's test-only stored-messages endpoint (see remote.ts). */
  debugToken: string;
}

/** Everything about a running network that can cross a process boundary. */
export interface NetworkInfo {
  plcUrl: string;
  pdsUrl: string;
  /** The PDS's service DID (did:web:localhost in dev mode). */
  pdsDid: string;
  chat: ChatServiceInfo;
}

export interface LocalNetwork extends NetworkInfo {
  chat: ChatServiceInfo & {
    /** Every message text the chat stand-in stores (in-process, so synchronous). */
    storedMessages(): string[];
  };
  /** Creates `<name>.test` (3-18 chars of [a-z0-9-]) with a password and a DM-capable app password. */
  createAccount(name: string): Promise<Account>;
  /** Plain-data snapshot for processes that only get to talk to the network over HTTP. */
  info(): NetworkInfo;
  /** Stops the chat stand-in, the PDS and the PLC, and deletes the PDS's files. Idempotent. */
  close(): Promise<void>;
}

export interface StartNetworkOptions {
  /** Fixed ports (e.g. for `npm start`, so a loaded extension keeps working); ephemeral otherwise. */
  chatPort?: number;
  plcPort?: number;
  pdsPort?: number;
}

export class NetworkStartError extends Error {
  override readonly name = 'NetworkStartError';
}

/**
 * Starts a real PLC (in memory) and a real PDS (sqlite in a fresh temp dir), wired like
 * dev-env's TestNetworkNoAppView, plus the chat.bsky stand-in registered in that PLC.
 */
export async function startNetwork(opts: StartNetworkOptions = {}): Promise<LocalNetwork> {
  // Everything started is stopped in reverse order, by close() or when a later step of the
  // start fails, so a failed start leaks no ports or files either. Each step runs even if an
  // earlier one failed; the failures are reported together.
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, 'Could not stop the local network cleanly');
  };
  try {
    // dev-env spreads its config over its defaults, so an explicit `port: undefined` would
    // override the port it picked: only pass keys that have values.
    const plc: TestPlc = await devEnvPlc.TestPlc.create(opts.plcPort ? { port: opts.plcPort } : {});
    cleanups.push(() => plc.close());

    const dataDir = await mkdtemp(join(tmpdir(), 'atm-pds-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    // allSettled, not all: if one fails we must still wait for the other to register its close.
    const [chatStarted, pdsStarted] = await Promise.allSettled([
      startChatStandIn({ plcUrl: plc.url, ...(opts.chatPort ? { port: opts.chatPort } : {}) }).then((c) => {
        cleanups.push(() => c.close());
        return c;
      }),
      withTmpdir(dataDir, () =>
        devEnvPds.TestPds.create({
          didPlcUrl: plc.url,
          dataDirectory: dataDir,
          blobstoreDiskLocation: join(dataDir, 'blobs'),
          blobstoreDiskTmpLocation: join(dataDir, 'blobs-tmp'),
          ...(opts.pdsPort ? { port: opts.pdsPort } : {}),
        }),
      ).then((p: TestPds) => {
        cleanups.push(() => p.close());
        return p;
      }),
    ]);
    if (chatStarted.status === 'rejected') throw chatStarted.reason;
    if (pdsStarted.status === 'rejected') throw pdsStarted.reason;
    const chat = chatStarted.value;
    const pds = pdsStarted.value;
    // As TestNetworkNoAppView does: `.test` handles resolve against this PDS, not DNS.
    devEnvUtil.mockNetworkUtilities(pds);

    const info: NetworkInfo = {
      plcUrl: plc.url,
      pdsUrl: pds.url,
      pdsDid: pds.ctx.cfg.service.did,
      chat: {
        did: chat.did,
        url: chat.url,
        serviceId: chat.serviceId,
        proxyHeader: chat.proxyHeader,
        debugToken: chat.debugToken,
      },
    };
    return {
      ...info,
      chat: { ...info.chat, storedMessages: () => chat.storedMessages() },
      createAccount: (name) => createAccount(pds.url, name),
      info: () => structuredClone(info),
      close: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw new NetworkStartError('Could not start the local AT Protocol network', { cause: err });
  }
}

/**
 * TestPds.create always mkdirs a default data directory under os.tmpdir() before our config
 * overrides it, and never removes it. Pointing TMPDIR at our own directory while it starts puts
 * that stray (empty) directory inside what close() deletes. Nothing else in this process should
 * be creating temp files during those ~100 ms; TMPDIR is restored right after.
 */
async function withTmpdir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}
