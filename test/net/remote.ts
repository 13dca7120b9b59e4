import { createAccount, type Account } from './accounts';
import { STORED_MESSAGES_PATH } from './chat-constants';
import type { NetworkInfo } from './network';

/**
 * The network as seen from a process that did not start it (a vitest worker gets NetworkInfo
 * from inject('network')): the same operations, over HTTP only.
 */
export interface RemoteNetwork extends NetworkInfo {
  createAccount(name: string): Promise<Account>;
  chat: NetworkInfo['chat'] & {
    /** Every message text the chat stand-in stores, fetched from its test-only endpoint. */
    storedMessages(): Promise<string[]>;
  };
}

export class StandInDebugError extends Error {
  override readonly name = 'StandInDebugError';
}

export function attachNetwork(info: NetworkInfo): RemoteNetwork {
  return {
    ...info,
    createAccount: (name) => createAccount(info.pdsUrl, name),
    chat: { ...info.chat, storedMessages: () => fetchStoredMessages(info.chat) },
  };
}

export async function fetchStoredMessages(chat: Pick<NetworkInfo['chat'], 'url' | 'debugToken'>): Promise<string[]> {
  const res = await fetch(new URL(STORED_MESSAGES_PATH, chat.url), {
    headers: { authorization: `Bearer ${chat.debugToken}` },
  });
  if (!res.ok) throw new StandInDebugError(`stored-messages endpoint answered ${res.status}`);
  const body = (await res.json()) as { texts?: unknown };
  if (!Array.isArray(body.texts) || !body.texts.every((t) => typeof t === 'string')) {
    throw new StandInDebugError('stored-messages endpoint returned an unexpected body');
  }
  return body.texts;
}
