import { expect } from 'vitest';
import { fromHex } from '../../src/bytes';
import type { GroupRecord } from '../../src/engine/delivery-state';
import type { PublicRepos } from '../../src/engine/ports';
import { openEventMessage } from '../../src/protocol/envelope';
import { EVENT, EVENT_COLLECTION_NSID, parseRecord } from '../../src/protocol/records';

/**
 * A removed device reads nothing sent after its removal: every inline event in `authors`' repos
 * with a record key after `afterRkey` is tried with every epoch key the device's stored group
 * (`group`) still holds, and each try must fail with InvalidEnvelope. Returns how many events,
 * and how many (event, key) attempts, were tried, so a test can show it tried something.
 */
export async function expectUnreadableAfter(
  reader: Pick<PublicRepos, 'listRecordsAfter'>,
  group: GroupRecord,
  authors: readonly string[],
  afterRkey: string,
): Promise<{ events: number; attempts: number }> {
  let events = 0;
  let attempts = 0;
  for (const did of authors) {
    const page = await reader.listRecordsAfter(did, EVENT_COLLECTION_NSID, afterRkey, 100);
    for (const raw of page.records) {
      const event = parseRecord(EVENT, raw.value, raw.uri);
      if (!event.ciphertext) continue; // no blob-sized events in these tests
      events++;
      for (const record of [group.current, ...group.retained]) {
        attempts++;
        await expect(
          openEventMessage(
            { envelopeKey: record.envelopeKey, groupId: fromHex(group.groupId), epoch: BigInt(record.epoch) },
            event.tag,
            event.ciphertext,
          ),
        ).rejects.toMatchObject({ code: 'InvalidEnvelope' });
      }
    }
  }
  return { events, attempts };
}
