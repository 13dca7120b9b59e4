import { AtmError, type AtmErrorCode } from '../errors';
import type { Caller, ConvoStatus } from './methods';

/** One port carries many calls; `id` pairs a response with its request. */
export const RPC_PORT_NAME = 'atmessaging-rpc';

export interface RpcRequest {
  rpc: 1;
  id: number;
  method: string;
  params: unknown;
}

export type RpcResponse =
  | { rpc: 1; id: number; ok: true; result: unknown }
  | { rpc: 1; id: number; ok: false; error: { code: AtmErrorCode; message: string } };

/**
 * How far a long operation on a conversation got (turning encryption on for a big group):
 * counts only. `devices`: people whose devices were looked up and proven; `invites`: invites
 * sealed for the devices added.
 */
export interface ConvoProgress {
  convoId: string;
  phase: 'devices' | 'invites';
  done: number;
  total: number;
}

const PROGRESS_PHASES: ReadonlySet<string> = new Set<ConvoProgress['phase']>(['devices', 'invites']);

/** Pushed by the background to every connected port; carries no more than its method would. */
export interface RpcEvents {
  'convo.status': ConvoStatus;
  /** Something in the conversation changed (a message, a status): pages re-read its view. */
  'convo.changed': { convoId: string };
  'convo.progress': ConvoProgress;
}
export type RpcEventName = keyof RpcEvents;

/**
 * Who hears each event, like `callers` for methods: content scripts only ever learn what
 * `convo.status` tells them; everything else is for extension pages and the panel.
 */
export const EVENT_LISTENERS: { readonly [E in RpcEventName]: readonly Caller[] } = {
  'convo.status': ['content-script', 'extension-page', 'panel'],
  'convo.changed': ['content-script', 'extension-page', 'panel'],
  'convo.progress': ['extension-page', 'panel'],
};
export interface RpcEvent<E extends RpcEventName = RpcEventName> {
  rpc: 1;
  event: E;
  data: RpcEvents[E];
}

/**
 * The events a content script may hear (EVENT_LISTENERS): its client parses nothing else, so
 * the bsky.app tab's script neither receives nor carries the code for the others.
 */
export function parseContentScriptEvent(message: unknown): RpcEvent<'convo.status' | 'convo.changed'> | undefined {
  const m = eventShape(message);
  if (!m) return undefined;
  const { data: d } = m;
  if (m.event === 'convo.changed') return { rpc: 1, event: 'convo.changed', data: { convoId: d.convoId } };
  if (m.event !== 'convo.status' || typeof d.encrypted !== 'boolean') return undefined;
  const unread = typeof d.unread === 'number' ? { unread: d.unread } : {};
  return { rpc: 1, event: 'convo.status', data: { convoId: d.convoId, encrypted: d.encrypted, ...unread } };
}

/** Every event, for extension pages. */
export function parseEvent(message: unknown): RpcEvent | undefined {
  const m = eventShape(message);
  if (m?.event !== 'convo.progress') return parseContentScriptEvent(message);
  const { convoId, phase, done, total } = m.data;
  const count = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof phase !== 'string' || !PROGRESS_PHASES.has(phase) || !count(done) || !count(total) || done > total) {
    return undefined;
  }
  return {
    rpc: 1,
    event: 'convo.progress',
    data: { convoId, phase: phase as ConvoProgress['phase'], done, total },
  };
}

function eventShape(message: unknown): { event: unknown; data: Record<string, unknown> & { convoId: string } } | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  const d = m.data as Record<string, unknown> | undefined;
  if (m.rpc !== 1 || typeof d?.convoId !== 'string') return undefined;
  return { event: m.event, data: d as Record<string, unknown> & { convoId: string } };
}

export function parseRequest(message: unknown): RpcRequest {
  if (typeof message !== 'object' || message === null) {
    throw new AtmError('BadRequest', 'request must be an object');
  }
  const m = message as Record<string, unknown>;
  if (m.rpc !== 1 || !Number.isSafeInteger(m.id) || typeof m.method !== 'string') {
    throw new AtmError('BadRequest', 'malformed request');
  }
  return { rpc: 1, id: m.id as number, method: m.method, params: m.params ?? {} };
}

export function parseResponse(message: unknown): RpcResponse | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.rpc !== 1 || !Number.isSafeInteger(m.id) || typeof m.ok !== 'boolean') return undefined;
  if (m.ok) return { rpc: 1, id: m.id as number, ok: true, result: m.result };
  const e = m.error as Record<string, unknown> | undefined;
  if (typeof e?.code !== 'string' || typeof e.message !== 'string') return undefined;
  return {
    rpc: 1,
    id: m.id as number,
    ok: false,
    error: { code: e.code as AtmErrorCode, message: e.message },
  };
}

/**
 * Errors leave the background as a code and a fixed message: no stacks, no context objects and
 * no text from lower layers (MLS errors quote library internals).
 */
export function errorResponse(id: number, error: unknown): RpcResponse {
  const code = error instanceof AtmError ? error.code : 'Internal';
  const message = code === 'Internal' ? 'internal error in background' : `request failed: ${code}`;
  return { rpc: 1, id, ok: false, error: { code, message } };
}
