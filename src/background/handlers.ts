import { convoStatus, setConvoEncrypted } from '../engine/conversations';
import type { Clock, ConvoSettingsStore } from '../engine/ports';
import type { RpcHandlers } from '../rpc/server';
import type { ConvoStatus } from '../rpc/methods';

export interface BackgroundDeps {
  version: string;
  startedAt: number;
  clock: Clock;
  convoSettings: () => Promise<ConvoSettingsStore>;
  /** Tells every open page and content script that a conversation's status changed. */
  notifyConvoStatus(status: ConvoStatus): void;
}

/** Maps each RPC method to its use case; the access checks already ran in `dispatch`. */
export function createHandlers(deps: BackgroundDeps): RpcHandlers {
  return {
    'background.info': () => ({ version: deps.version, startedAt: deps.startedAt }),
    'convo.status': async ({ convoId }) => convoStatus(await deps.convoSettings(), convoId),
    'convo.setEncrypted': async ({ convoId, encrypted }) => {
      const status = await setConvoEncrypted(await deps.convoSettings(), deps.clock, convoId, encrypted);
      deps.notifyConvoStatus(status);
      return status;
    },
  };
}
