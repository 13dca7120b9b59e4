import { TID } from '@atproto/common-web';

/** A fresh record key (TID), chosen before a write so a retried write lands on the same record. */
export function newTid(): string {
  return TID.nextStr();
}
