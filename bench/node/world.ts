import 'fake-indexeddb/auto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeliveryEngine, type DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY, newReadLog, type DeliveryDeps } from '../../src/engine/delivery-deps';
import { newTid } from '../../src/engine/tid';
import { openAtmDb, type AtmDb } from '../../src/store/db';
import { idbDeliveryStore } from '../../src/store/delivery-store';
import { resumeCreationSession, uniqueName, type Account } from '../../test/net/accounts';
import { startNetwork, type LocalNetwork } from '../../test/net/network';
import { clock, startDevice, type TestDevice } from '../../test/integration/device-harness';
import type { AtpAgent } from '@atproto/api';

/**
 * A real local PLC + PDS (as the integration tests use) with two users, alice and bob, one
 * device each, each device with its own IndexedDB (fake-indexeddb in Node), delivery engine, and
 * a direct group between them that both have joined.
 */
export interface Peer {
  account: Account;
  agent: AtpAgent;
  device: TestDevice;
  deps: DeliveryDeps;
  engine: DeliveryEngine;
  /** The device's own IndexedDB (fake-indexeddb), for the storage rows. */
  db: AtmDb;
}

export interface World {
  network: LocalNetwork;
  alice: Peer;
  bob: Peer;
  groupId: string;
  close(): Promise<void>;
}

async function peer(network: LocalNetwork, name: string): Promise<Peer> {
  const account = await network.createAccount(uniqueName(name));
  const agent = await resumeCreationSession(network.pdsUrl, account);
  const device = await startDevice(name, agent, account.did, network.plcUrl);
  const db = await openAtmDb(`bench-${name}-${newTid()}`);
  const store = idbDeliveryStore(db);
  const deps: DeliveryDeps = {
    device: device.device,
    mls: device.mls,
    store,
    repo: device.repo,
    publicRepos: device.publicRepos,
    keyPackages: device.keyPackages,
    as: device.as,
    clock,
    newTid,
    policy: DEFAULT_DELIVERY_POLICY,
    reads: newReadLog(),
  };
  const engine = createDeliveryEngine({ ...deps, retryPolicy: { baseMs: 0, maxMs: 0 } });
  return { account, agent, device, deps, engine, db };
}

export async function startWorld(): Promise<World> {
  const previousTmp = process.env.TMPDIR;
  const runTmp = await mkdtemp(join(tmpdir(), 'atm-bench-'));
  process.env.TMPDIR = runTmp;
  const network = await startNetwork();
  const alice = await peer(network, 'alice');
  const bob = await peer(network, 'bob');
  const { groupId } = await alice.engine.createGroup([bob.account.did]);
  await alice.engine.flush();
  await bob.engine.poll([alice.account.did]);
  if (!(await bob.engine.groups()).some((g) => g.groupId === groupId)) throw new Error('bob did not join');
  return {
    network,
    alice,
    bob,
    groupId,
    async close() {
      await network.close();
      if (previousTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previousTmp;
      await rm(runTmp, { recursive: true, force: true });
    },
  };
}
