import { describe, expect, it } from 'vitest';
import { chooseContacts } from '../../../src/engine/contacts';
import { AtmError } from '../../../src/errors';
import { DEVICE_COLLECTION_NSID } from '../../../src/protocol/records';

/** Repos holding device records for `withDevices`; `down` cannot be read. */
function repos(withDevices: string[], down: string[] = []) {
  const asked: string[] = [];
  return {
    asked,
    publicRepos: {
      listRecords: async (did: string, collection: string, options?: { max?: number }) => {
        asked.push(did);
        expect(collection).toBe(DEVICE_COLLECTION_NSID);
        expect(options).toEqual({ max: 1 });
        if (down.includes(did)) throw new AtmError('Network', 'PDS down');
        return withDevices.includes(did) ? [{ uri: `at://${did}/x/y`, rkey: 'y', cid: 'c', value: {} }] : [];
      },
    },
  };
}

describe('chooseContacts', () => {
  it('keeps only people whose repo holds a device record, asking each repo once', async () => {
    const r = repos(['did:plc:a', 'did:plc:c']);
    const chosen = await chooseContacts(r, ['did:plc:a', 'did:plc:b', 'did:plc:c', 'did:plc:a'], new Set());
    expect([...chosen].sort()).toEqual(['did:plc:a', 'did:plc:c']);
    expect(r.asked.sort()).toEqual(['did:plc:a', 'did:plc:b', 'did:plc:c']);
  });

  it('a repo that cannot be read keeps a contact it had, and makes no new one', async () => {
    const r = repos([], ['did:plc:old', 'did:plc:new']);
    const chosen = await chooseContacts(r, ['did:plc:old', 'did:plc:new'], new Set(['did:plc:old']));
    expect([...chosen]).toEqual(['did:plc:old']);
  });
});
