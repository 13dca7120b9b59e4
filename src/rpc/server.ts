import { AtmError } from '../errors';
import { METHODS, isMethod, type Caller, type Method, type Params, type Result } from './methods';
import type { PanelTickets } from './panel-tickets';
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
  /** The browser's id of the caller's tab: for the content script and the panel, which run in one. */
  tabId?: number;
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
  tabId?: number,
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
      const result = await handler(params, tabId === undefined ? { caller } : { caller, tabId });
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

export interface ServeOptions {
  hub?: PortHub;
  /** Admits framed pages of ours as the panel by their ticket; without it every framed page is refused. */
  panelTickets?: Pick<PanelTickets, 'admit'>;
}

/** Messages a framed page may send while its ticket is checked; more are dropped unread. */
const MAX_WAITING = 32;

/**
 * Serves RPC on a port the browser just connected, and resolves to whether it is served. Ports
 * from unknown senders are closed before any of their messages is read. A framed page of ours
 * waits for its ticket to be checked (an asynchronous read of the ticket table): the listener
 * is attached at once (the browser drops messages nobody listens for), and what arrives
 * meanwhile is held unread, then answered in order if the page is admitted as the panel, or
 * dropped with the port if not.
 */
export async function servePort(port: PortLike, handlers: RpcHandlers, self: ExtensionSelf, options: ServeOptions = {}): Promise<boolean> {
  if (port.name !== RPC_PORT_NAME) return false;
  const place = classifySender(port.sender, self);
  if (!place) {
    port.disconnect();
    return false;
  }
  const { hub } = options;
  const tabId = place.kind === 'extension-page' ? undefined : place.tabId;
  let open = true;
  let caller: Caller | undefined = place.kind === 'framed-page' ? undefined : place.kind;
  const waiting: unknown[] = [];
  const answer = (who: Caller, message: unknown) =>
    void dispatch(handlers, who, message, tabId).then((response) => {
      if (response && open) port.postMessage(response);
    });
  port.onDisconnect.addListener(() => {
    open = false;
    hub?.remove(port);
  });
  port.onMessage.addListener((message) => {
    if (caller) answer(caller, message);
    else if (waiting.length < MAX_WAITING) waiting.push(message);
  });
  if (place.kind === 'framed-page') {
    if (!(await admitAsPanel(options.panelTickets, place))) {
      waiting.length = 0;
      open = false;
      port.disconnect();
      return false;
    }
    if (!open) return false; // the frame went away while its ticket was checked
    caller = 'panel';
    for (const message of waiting.splice(0)) answer(caller, message);
  }
  if (open) hub?.add(port, caller!);
  return open;
}

/** Whether the ticket admits the framed page as the panel; an admission that fails admits nobody. */
async function admitAsPanel(
  tickets: ServeOptions['panelTickets'],
  place: { tabId: number; frameId: number; ticket: string },
): Promise<boolean> {
  if (!tickets) return false;
  try {
    return await tickets.admit(place.tabId, place.frameId, place.ticket);
  } catch {
    return false;
  }
}
