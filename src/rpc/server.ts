import { AtmError } from '../errors';
import { METHODS, isMethod, type Caller, type Method, type Params, type Result } from './methods';
import type { PortLike } from './port';
import { classifySender, type ExtensionSelf } from './sender';
import {
  errorResponse,
  EVENT_LISTENERS,
  parseRequest,
  RPC_PORT_NAME,
  type RpcEvent,
  type RpcEventName,
  type RpcEvents,
  type RpcResponse,
} from './wire';

export interface CallContext {
  caller: Caller;
}

export type RpcHandlers = {
  [M in Method]: (params: Params<M>, ctx: CallContext) => Promise<Result<M>> | Result<M>;
};

/**
 * Runs one request through the boundary checks, in this order: well-formed, known method,
 * allowed for this caller, params valid. Only then does a handler see it.
 */
export async function dispatch(
  handlers: RpcHandlers,
  caller: Caller,
  message: unknown,
): Promise<RpcResponse | undefined> {
  let id: number;
  try {
    const request = parseRequest(message);
    id = request.id;
    try {
      if (!isMethod(request.method)) {
        throw new AtmError('UnknownMethod', 'unknown method', { method: request.method });
      }
      const spec = METHODS[request.method];
      if (!spec.callers.includes(caller)) {
        throw new AtmError('Forbidden', 'method not allowed for this caller', {
          method: request.method,
          caller,
        });
      }
      const params = spec.parse(request.params);
      const handler = handlers[request.method] as (
        p: typeof params,
        c: CallContext,
      ) => Promise<unknown> | unknown;
      const result = await handler(params, { caller });
      return { rpc: 1, id, ok: true, result };
    } catch (error) {
      return errorResponse(id, error);
    }
  } catch {
    // Not even an id to answer to: drop it rather than guess.
    return undefined;
  }
}

/** The connected ports, so the background can push state changes to every open page. */
export interface PortHub {
  /** A port whose sender was classified as `caller`: it hears only the events EVENT_LISTENERS allows. */
  add(port: PortLike, caller: Caller): void;
  remove(port: PortLike): void;
  broadcast<E extends RpcEventName>(event: E, data: RpcEvents[E]): void;
}

export function createPortHub(): PortHub {
  const ports = new Map<PortLike, Caller>();
  return {
    add: (port, caller) => void ports.set(port, caller),
    remove: (port) => void ports.delete(port),
    broadcast(event, data) {
      const message: RpcEvent = { rpc: 1, event, data };
      for (const [port, caller] of ports) {
        if (!EVENT_LISTENERS[event].includes(caller)) continue;
        try {
          port.postMessage(message);
        } catch {
          ports.delete(port); // disconnected meanwhile
        }
      }
    },
  };
}

/**
 * Serves RPC on a port the browser just connected. Ports from unknown senders are closed
 * before any of their messages is read.
 */
export function servePort(port: PortLike, handlers: RpcHandlers, self: ExtensionSelf, hub?: PortHub): boolean {
  if (port.name !== RPC_PORT_NAME) return false;
  const caller = classifySender(port.sender, self);
  if (!caller) {
    port.disconnect();
    return false;
  }
  let open = true;
  hub?.add(port, caller);
  port.onDisconnect.addListener(() => {
    open = false;
    hub?.remove(port);
  });
  port.onMessage.addListener((message) => {
    void dispatch(handlers, caller, message).then((response) => {
      if (response && open) port.postMessage(response);
    });
  });
  return true;
}
