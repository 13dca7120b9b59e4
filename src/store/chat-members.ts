import type { PersistedMembers } from '../atproto/chat';
import type { AtmDb } from './db';

/** The chat service's last member lists, kept across worker restarts (wiped at sign-out). */
export function idbChatMembers(db: AtmDb): PersistedMembers {
  return {
    get: (convoId) => db.get('chatMembers', convoId),
    async put(record) {
      await db.put('chatMembers', { ...record, dids: [...record.dids] });
    },
  };
}
