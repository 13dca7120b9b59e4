import { convoStatus, setConvoEncrypted } from '../engine/conversations';
import type { Clock, ConvoSettingsStore } from '../engine/ports';
import type { RpcHandlers } from '../rpc/server';

export interface BackgroundDeps {
  version: string;
  startedAt: number;
  clock: Clock;
  convoSettings: () => Promise<ConvoSettingsStore>;
}

/** Maps each RPC method to its use case; the access checks already ran in `dispatch`. */
export function createHandlers(deps: BackgroundDeps): RpcHandlers {
  return {
    'background.info': () => ({ version: deps.version, startedAt: deps.startedAt }),
    'convo.status': async ({ convoId }) => convoStatus(await deps.convoSettings(), convoId),
    'convo.setEncrypted': async ({ convoId, encrypted }) =>
      setConvoEncrypted(await deps.convoSettings(), deps.clock, convoId, encrypted),
  };
}
