import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';

/**
 * A bare Chrome DevTools Protocol connection to a Chromium this bench starts itself. The
 * start-up rows need it: Playwright attaches to every service worker as it starts (and holds
 * it until it has resumed it), which would sit inside the very start-up being measured.
 */
export class Cdp {
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private listeners = new Map<string, Set<(params: Record<string, unknown>, sessionId?: string) => void>>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(msg.error.message));
        else p.resolve(msg.result);
      } else if (msg.method) {
        for (const l of this.listeners.get(msg.method) ?? []) l(msg.params ?? {}, msg.sessionId);
      }
    });
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
      ws.once('open', () => resolve(new Cdp(ws)));
      ws.once('error', reject);
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(method: string, listener: (params: Record<string, unknown>, sessionId?: string) => void): () => void {
    const set = this.listeners.get(method) ?? new Set();
    set.add(listener);
    this.listeners.set(method, set);
    return () => set.delete(listener);
  }

  /** Evaluates an expression (awaiting a promise) in a session's page; throws what the page threw. */
  async evaluate<T>(sessionId: string, expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
    );
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value as T;
  }

  close(): void {
    this.ws.close();
  }
}

export interface RawChromium {
  cdp: Cdp;
  process: ChildProcess;
  close(): Promise<void>;
}

/** Debian's Chromium with the given flags and profile, and a CDP connection to its browser target. */
export async function launchRawChromium(userDataDir: string, args: string[]): Promise<RawChromium> {
  const executable = execFileSync('sh', ['-c', 'command -v chromium']).toString().trim();
  const portFile = join(userDataDir, 'DevToolsActivePort');
  if (existsSync(portFile)) execFileSync('rm', ['-f', portFile]);
  const child = spawn(executable, ['--headless', '--remote-debugging-port=0', `--user-data-dir=${userDataDir}`, ...args, 'about:blank'], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  let endpoint: string | undefined;
  while (!endpoint) {
    if (Date.now() > deadline) throw new Error('Chromium did not open its DevTools port');
    if (existsSync(portFile)) {
      const [port, path] = readFileSync(portFile, 'utf8').split('\n');
      if (port && path) endpoint = `ws://127.0.0.1:${port}${path}`;
    }
    if (!endpoint) await new Promise((r) => setTimeout(r, 50));
  }
  const cdp = await Cdp.connect(endpoint);
  return {
    cdp,
    process: child,
    async close() {
      await cdp.send('Browser.close').catch(() => {});
      cdp.close();
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
