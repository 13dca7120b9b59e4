import type { ConvoStatus } from '../rpc/methods';
import type { Clock, ConvoSettingsStore } from './ports';

/** What the lock toggle and the panel show for a conversation. Unknown means "not encrypted". */
export async function convoStatus(store: ConvoSettingsStore, convoId: string): Promise<ConvoStatus> {
  const setting = await store.get(convoId);
  return { convoId, encrypted: setting?.encrypted ?? false };
}

/**
 * The user's per-conversation choice. Turning encryption off only stops encrypted sending:
 * history and group state are kept, so nothing already received becomes unreadable.
 */
export async function setConvoEncrypted(
  store: ConvoSettingsStore,
  clock: Clock,
  convoId: string,
  encrypted: boolean,
): Promise<ConvoStatus> {
  await store.put({ convoId, encrypted, updatedAt: clock.now() });
  return { convoId, encrypted };
}
