import { AtmError } from '../errors';
import type { Method, Params, Result } from './methods';
import type { PortLike } from './port';
import { parseContentScriptEvent, parseResponse, RPC_PORT_NAME, type RpcEvent } from './wire';

export interface RpcClient {
  call<M extends Method>(method: M, params: Params<M>): Promise<Result<M>>;
  /** Events the background pushes while this client's port is open. */
  onEvent(listener: (event: RpcEvent) => void): () => void;
  close(): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: AtmError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A typed client over one runtime port. The background may be a service worker that the
 * browser stops when idle, which disconnects the port: calls in flight then fail with
 * `Disconnected` and the next call opens a fresh port (waking the worker).
 */
export function createRpcClient(
  connect: (name: string) => PortLike,
  options: {
    timeoutMs?: number;
    /** Which events to hear: by default a content script's (wire.ts); extension pages pass `parseEvent`. */
    parseEvent?: (message: unknown) => RpcEvent | undefined;
  } = {},
): RpcClient {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const parseEvent = options.parseEvent ?? parseContentScriptEvent;
  let port: PortLike | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Set<(event: RpcEvent) => void>();

  function failAll(error: AtmError) {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(error);
    }
  }

  function ensurePort(): PortLike {
    if (port) return port;
    const opened = connect(RPC_PORT_NAME);
    opened.onMessage.addListener((message) => {
      const event = parseEvent(message);
      if (event) {
        for (const listener of listeners) listener(event);
        return;
      }
      const response = parseResponse(message);
      if (!response) return;
      const p = pending.get(response.id);
      if (!p) return;
      pending.delete(response.id);
      clearTimeout(p.timer);
      if (response.ok) p.resolve(response.result);
      else p.reject(new AtmError(response.error.code, response.error.message));
    });
    opened.onDisconnect.addListener(() => {
      if (port === opened) port = undefined;
      failAll(new AtmError('Disconnected', 'background disconnected'));
    });
    port = opened;
    return opened;
  }

  return {
    call(method, params) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new AtmError('Timeout', 'background did not answer', { method }));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        try {
          ensurePort().postMessage({ rpc: 1, id, method, params });
        } catch {
          clearTimeout(timer);
          pending.delete(id);
          port = undefined;
          reject(new AtmError('Disconnected', 'could not reach background', { method }));
        }
      });
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      listeners.clear();
      const p = port;
      port = undefined;
      failAll(new AtmError('Disconnected', 'client closed'));
      p?.disconnect();
    },
  };
}
