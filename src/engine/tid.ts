// The TID module alone: the package's index also loads zod and its other helpers, about 80 KB
// the worker would parse on every start (docs/performance.md).
import { TID } from '@atproto/common-web/dist/tid';

/** A fresh record key (TID), chosen before a write so a retried write lands on the same record. */
export function newTid(): string {
  return TID.nextStr();
}

const SMALLEST_TID = '2222222222222';
/** 32^10 µs (2005): the first timestamp TID.fromTime encodes in the full 11 characters. */
const FIRST_FULL_TIMESTAMP = 32 ** 10;

/**
 * The smallest TID of `microsBack` microseconds before `tid`'s time (undefined if `tid` is not
 * a TID): where a reader starts again to catch records written with an older key than ones it
 * already read.
 */
export function tidBefore(tid: string, microsBack: number): string | undefined {
  if (!TID.is(tid)) return undefined;
  const micros = TID.fromStr(tid).timestamp() - microsBack;
  // TID.fromTime neither pads short timestamps nor accepts negative ones (it loops forever):
  // anything before the first 11-character time starts from the very beginning.
  if (!Number.isSafeInteger(micros) || micros < FIRST_FULL_TIMESTAMP) return SMALLEST_TID;
  return TID.fromTime(micros, 0).toString();
}

/** When a TID says it was made (ms since the epoch), or undefined if `tid` is not a TID. */
export function tidTimeMs(tid: string): number | undefined {
  if (!TID.is(tid)) return undefined;
  return Math.floor(TID.fromStr(tid).timestamp() / 1000);
}
