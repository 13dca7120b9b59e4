import { epoch, members, type GroupState, type MlsContext } from '../mls';
import { deriveEpochKeys } from '../protocol/epoch-keys';
import { createTagWindow } from '../protocol/tags';
import type { EpochRecord, GroupRecord } from './delivery-state';

/** The envelope and tag keys of the state's epoch and a fresh tag window over every leaf. */
export async function epochRecordFor(mls: MlsContext, state: GroupState): Promise<EpochRecord> {
  const keys = await deriveEpochKeys(mls, state);
  return {
    epoch: epoch(state).toString(),
    envelopeKey: keys.envelopeKey,
    tagKey: keys.tagKey,
    tags: await createTagWindow(
      keys.tagKey,
      members(state).map((m) => m.leafIndex),
    ),
    nextCounter: 0,
  };
}

/** The group moved to a new epoch: the old one joins the retained list (bounded, newest first). */
export function enterEpoch(
  group: GroupRecord,
  state: Uint8Array,
  next: EpochRecord,
  retainedEpochs: number,
): Pick<GroupRecord, 'state' | 'current' | 'retained'> {
  return { state, current: next, retained: [group.current, ...group.retained].slice(0, retainedEpochs) };
}

/** Replaces the epoch record with the same epoch number (current or retained). */
export function withEpochRecord(group: GroupRecord, record: EpochRecord): GroupRecord {
  if (group.current.epoch === record.epoch) return { ...group, current: record };
  return { ...group, retained: group.retained.map((r) => (r.epoch === record.epoch ? record : r)) };
}
