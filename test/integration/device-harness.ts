import 'fake-indexeddb/auto';
import type { AtpAgent } from '@atproto/api';
import { createIdentityResolver } from '../../src/atproto/identity';
import { createRecordProver } from '../../src/atproto/record-proof';
import { agentOwnRepo, publicRepos } from '../../src/atproto/repos';
import { createAuthenticationService, type AuthenticationService } from '../../src/engine/authentication-service';
import { ensureDevice } from '../../src/engine/device-registration';
import { replenishKeyPackages, type PoolPolicy } from '../../src/engine/key-package-pool';
import { mlsAuthService } from '../../src/engine/mls-auth';
import type { Clock, KeyPackageStore, LocalDevice, OwnRepo, PublicRepos } from '../../src/engine/ports';
import { newTid } from '../../src/engine/tid';
import { createSuite, type MlsContext, type MlsSuite } from '../../src/mls';
import { openAtmDb } from '../../src/store/db';
import { idbDeviceStore, idbKeyPackageStore } from '../../src/store/device-store';
import { idbDeliveryStore } from '../../src/store/delivery-store';
import { createDeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY, type DeliveryDeps, type DeliveryPolicy } from '../../src/engine/delivery-deps';

/**
 * One simulated browser profile: its own IndexedDB (fake-indexeddb, real IDB semantics), its own
 * MLS suite, and the real shell pieces (session repo writes, public reads, CAR-verified AS)
 * talking to the real local PDS and PLC.
 */
export interface TestDevice {
  name: string;
  device: LocalDevice;
  repo: OwnRepo;
  publicRepos: PublicRepos;
  keyPackages: KeyPackageStore;
  as: AuthenticationService;
  mls: MlsContext;
  /** Ids of Welcomes already used (the engine keeps these with the group state). */
  welcomes: Set<string>;
  usedWelcome(id: string): Promise<boolean>;
}

/** Real time plus an offset that tests move forward (e.g. past a finality window). */
export const clock: Clock & { advance(ms: number): void } = {
  now: () => Date.now() + offset,
  advance: (ms) => void (offset += ms),
};
let offset = 0;

let suite: Promise<MlsSuite> | undefined;

export function shell(plcUrl: string) {
  const identity = createIdentityResolver({ plcUrl });
  const as = createAuthenticationService({ prover: createRecordProver({ identity }), clock });
  return { identity, as, publicRepos: publicRepos({ identity }) };
}

export async function startDevice(
  name: string,
  agent: AtpAgent,
  did: string,
  plcUrl: string,
  policy?: PoolPolicy,
  /**
   * Reads and credential proofs shared with other devices (one cache for a crowd of simulated
   * members, where proving every member's device 50 times over only costs time); own by default.
   */
  shared: ReturnType<typeof shell> = shell(plcUrl),
): Promise<TestDevice> {
  const db = await openAtmDb(`atm-${name}-${newTid()}`);
  const { as, publicRepos: reader } = shared;
  const mls: MlsContext = { suite: await (suite ??= createSuite()), auth: mlsAuthService(as), clock };
  const repo = agentOwnRepo(agent, did);
  const keyPackages = idbKeyPackageStore(db);
  const device = await ensureDevice({ repo, devices: idbDeviceStore(db), suite: mls.suite, clock, newTid });
  await replenishKeyPackages({ repo, publicRepos: reader, keyPackages, device, mls, newTid, policy });
  const welcomes = new Set<string>();
  return {
    name,
    device,
    repo,
    publicRepos: reader,
    keyPackages,
    as,
    mls,
    welcomes,
    usedWelcome: async (id) => welcomes.has(id),
  };
}

/** The delivery engine of a test device over its own IndexedDB (reopened to "restart" it). */
export async function deliveryEngineFor(
  d: TestDevice,
  dbName: string,
  policy: Partial<DeliveryPolicy> = {},
  hooks: Pick<DeliveryDeps, 'conversationDids' | 'onMaintenanceError' | 'onGroupProgress'> = {},
) {
  const db = await openAtmDb(dbName);
  const store = idbDeliveryStore(db);
  const engine = createDeliveryEngine({
    device: d.device,
    mls: d.mls,
    store,
    repo: d.repo,
    publicRepos: d.publicRepos,
    keyPackages: d.keyPackages,
    clock,
    newTid,
    policy: { ...DEFAULT_DELIVERY_POLICY, ...policy },
    as: d.as,
    // Tests drive time themselves: retry at once rather than after seconds.
    retryPolicy: { baseMs: 0, maxMs: 0 },
    ...hooks,
  });
  return { engine, store, db };
}
