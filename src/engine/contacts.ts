import { DEVICE_COLLECTION_NSID } from '../protocol/records';
import type { PublicRepos } from './ports';

/** Repos checked at once while choosing contacts: a burst to one PDS stays small. */
const CHECKS_AT_ONCE = 8;

/**
 * Which of the people in our accepted conversations are contacts (docs/protocol.md §7): those
 * whose repo holds a device record, since only a device can invite us or write to us. Everyone
 * else costs reads and a wake-up stream for nothing, and a conversation request must not make us
 * read a repo its sender chose. A person whose repo cannot be checked now stays a contact if they
 * were one (delivery must not stop on a PDS hiccup) and is not made one otherwise.
 */
export async function chooseContacts(
  deps: { publicRepos: Pick<PublicRepos, 'listRecords'> },
  candidates: readonly string[],
  previous: ReadonlySet<string>,
): Promise<Set<string>> {
  const chosen = new Set<string>();
  const queue = [...new Set(candidates)];
  const check = async (): Promise<void> => {
    for (let did = queue.shift(); did !== undefined; did = queue.shift()) {
      try {
        if ((await deps.publicRepos.listRecords(did, DEVICE_COLLECTION_NSID, { max: 1 })).length > 0) chosen.add(did);
      } catch {
        if (previous.has(did)) chosen.add(did);
      }
    }
  };
  await Promise.all(Array.from({ length: CHECKS_AT_ONCE }, check));
  return chosen;
}
