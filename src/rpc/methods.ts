import { AtmError } from '../errors';
import { assertConvoId } from '../content/convo-route';

/**
 * The typed surface between extension contexts and the background. Each method names who may
 * call it (DESIGN.md boundary 2): a content script runs beside bsky.app's page and is treated
 * as half-trusted, so it may only ask about a conversation's state.
 */
export interface ConvoStatus {
  convoId: string;
  encrypted: boolean;
}

export interface BackgroundInfo {
  version: string;
  startedAt: number;
}

export interface RpcMethods {
  'background.info': { params: Record<string, never>; result: BackgroundInfo };
  'convo.status': { params: { convoId: string }; result: ConvoStatus };
  'convo.setEncrypted': {
    params: { convoId: string; encrypted: boolean };
    result: ConvoStatus;
  };
}

export type Method = keyof RpcMethods;
export type Params<M extends Method> = RpcMethods[M]['params'];
export type Result<M extends Method> = RpcMethods[M]['result'];

/** Who is on the other end of a port, as established by the browser (never by the message). */
export type Caller = 'extension-page' | 'content-script';

interface MethodSpec<M extends Method> {
  callers: readonly Caller[];
  /** Parses untrusted params; throws `BadRequest`/typed errors on anything unexpected. */
  parse(params: unknown): Params<M>;
}

function record(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new AtmError('BadRequest', 'params must be an object');
  }
  return params as Record<string, unknown>;
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new AtmError('BadRequest', 'unexpected param', { key });
  }
}

export const METHODS: { [M in Method]: MethodSpec<M> } = {
  'background.info': {
    callers: ['extension-page'],
    parse(params) {
      onlyKeys(record(params), []);
      return {};
    },
  },
  'convo.status': {
    callers: ['extension-page', 'content-script'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId']);
      return { convoId: assertConvoId(p.convoId) };
    },
  },
  'convo.setEncrypted': {
    callers: ['extension-page'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId', 'encrypted']);
      if (typeof p.encrypted !== 'boolean') {
        throw new AtmError('BadRequest', 'encrypted must be a boolean');
      }
      return { convoId: assertConvoId(p.convoId), encrypted: p.encrypted };
    },
  },
};

export function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(METHODS, name);
}
