import { describe, expect, it } from 'vitest';
import { deleteExpiredEvents } from '../../../src/engine/retention';
import { DEFAULT_DELIVERY_POLICY, type DeliveryDeps } from '../../../src/engine/delivery-deps';
import { MemoryDeliveryStore } from './memory-delivery-store';
import { MemoryRepo } from './memory-repo';

const DID = 'did:plc:abcdefghijklmnopqrstuvwx';
const EVENT = 'org.atmessaging.event';
const DAY = 24 * 3600_000;

describe('retention', () => {
  it("deletes our events older than the retention period from the repo, and only those", async () => {
    const repo = new MemoryRepo(DID);
    const store = new MemoryDeliveryStore();
    for (const [rkey, age] of [['3lbaaaaaaaa22', 40], ['3lbbbbbbbbb22', 31], ['3lbccccccccc2', 29]] as const) {
      await repo.putRecord(EVENT, rkey, { $type: EVENT });
      await store.apply({ putOwnEvents: [{ rkey, collection: EVENT, publishedAt: 100 * DAY - age * DAY }] });
    }
    const deps = {
      repo,
      store,
      clock: { now: () => 100 * DAY },
      policy: DEFAULT_DELIVERY_POLICY,
    } as unknown as DeliveryDeps;
    expect(await deleteExpiredEvents(deps)).toEqual(['3lbaaaaaaaa22', '3lbbbbbbbbb22']);
    expect(repo.size(EVENT)).toBe(1);
    expect(repo.get(EVENT, '3lbccccccccc2')).toBeDefined();
    expect((await store.listOwnEvents()).map((e) => e.rkey)).toEqual(['3lbccccccccc2']);
    // Nothing more to do until the last one expires.
    expect(await deleteExpiredEvents(deps)).toEqual([]);
  });
});
