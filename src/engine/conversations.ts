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
  const previous = await store.get(convoId);
  await store.put({ ...previous, convoId, encrypted, updatedAt: clock.now() });
  return { convoId, encrypted };
}

/** The panel showed the conversation: everything received so far counts as read. */
export async function markConvoRead(store: ConvoSettingsStore, clock: Clock, convoId: string): Promise<void> {
  const previous = await store.get(convoId);
  // Reading decides nothing about encryption: an absent choice stays absent.
  await store.put({ ...previous, convoId, updatedAt: previous?.updatedAt ?? clock.now(), readAt: clock.now() });
}
