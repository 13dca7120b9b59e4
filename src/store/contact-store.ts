import type { ContactVerification, ContactVerificationStore } from '../engine/ports';
import type { AtmDb } from './db';

export function idbContactVerifications(db: AtmDb): ContactVerificationStore {
  return {
    get: (did) => db.get('contacts', did),
    async put(verification: ContactVerification) {
      await db.put('contacts', { ...verification });
    },
    async delete(did) {
      await db.delete('contacts', did);
    },
  };
}
