import type { ConvoSetting, ConvoSettingsStore } from '../engine/ports';
import type { AtmDb } from './db';

export function idbConvoSettings(db: AtmDb): ConvoSettingsStore {
  return {
    get: (convoId) => db.get('convoSettings', convoId),
    async put(setting: ConvoSetting) {
      await db.put('convoSettings', { ...setting });
    },
  };
}
