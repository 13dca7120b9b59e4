import { AtmError, isAtmError } from '../errors';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord, type EventRecord } from '../protocol/records';
import type { DeliveryDeps } from './delivery-deps';

/** The sealed bytes of an event: inline, or its blob fetched and checked against its CID. */
async function sealedBytes(deps: Pick<DeliveryDeps, 'publicRepos'>, did: string, record: EventRecord): Promise<Uint8Array | undefined> {
  if (record.ciphertext) return record.ciphertext;
  const ref = record.blob as { ref?: { toString(): string } } | undefined;
  const cid = ref?.ref?.toString();
  return cid ? deps.publicRepos.getBlob(did, cid) : undefined;
}

/**
 * A blob that cannot be had for good (the author's PDS refuses, or it does not match its CID)
 * makes the event unreadable: it is passed over rather than stalling this repo forever. A
 * network failure is rethrown: the cursor stays and the event is read again later.
 */
export async function blobOrSkip(deps: Pick<DeliveryDeps, 'publicRepos'>, did: string, record: EventRecord): Promise<Uint8Array | undefined> {
  try {
    return await sealedBytes(deps, did, record);
  } catch (error) {
    if (isAtmError(error) && error.code !== 'Network' && error.code !== 'Timeout') return undefined;
    throw error;
  }
}

const TID_ALPHABET = '234567abcdefghijklmnopqrstuvwxyz';

/** The TID just before `tid` (nothing sorts between them), or undefined for the smallest. */
function tidPredecessor(tid: string): string | undefined {
  const chars = tid.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const at = TID_ALPHABET.indexOf(chars[i]!);
    if (at > 0) {
      chars[i] = TID_ALPHABET[at - 1]!;
      return chars.join('');
    }
    chars[i] = TID_ALPHABET[TID_ALPHABET.length - 1]!;
  }
  return undefined;
}

/**
 * One event of `did`'s repo by record key (an invite's bundle, §6.6), read like every event: the
 * first record after the key's predecessor. Undefined when the repo does not hold it (yet).
 */
export async function eventByRkey(
  deps: Pick<DeliveryDeps, 'publicRepos'>,
  did: string,
  rkey: string,
): Promise<{ tag: Uint8Array; ciphertext: Uint8Array } | undefined> {
  const page = await deps.publicRepos.listRecordsAfter(did, EVENT_COLLECTION_NSID, tidPredecessor(rkey), 1);
  const record = page.records[0];
  if (!record || record.rkey !== rkey) return undefined;
  let parsed: EventRecord;
  try {
    parsed = parseRecord(EVENT, record.value, record.uri);
  } catch (error) {
    throw new AtmError('InvalidEnvelope', 'the invite names a record that is not an event', { rkey }, { cause: error });
  }
  const ciphertext = await blobOrSkip(deps, did, parsed);
  return ciphertext ? { tag: parsed.tag, ciphertext } : undefined;
}
