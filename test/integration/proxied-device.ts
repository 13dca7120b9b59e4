import 'fake-indexeddb/auto';
import { AtpAgent } from '@atproto/api';
import { createIdentityResolver, type IdentityResolver } from '../../src/atproto/identity';
import { createRecordProver } from '../../src/atproto/record-proof';
import { agentOwnRepo, publicRepos } from '../../src/atproto/repos';
import { createAuthenticationService } from '../../src/engine/authentication-service';
import { ensureDevice } from '../../src/engine/device-registration';
import { DEFAULT_POOL_POLICY, replenishKeyPackages, type PoolPolicy } from '../../src/engine/key-package-pool';
import { mlsAuthService } from '../../src/engine/mls-auth';
import { newTid } from '../../src/engine/tid';
import { createSuite, type MlsContext, type MlsSuite } from '../../src/mls';
import { openAtmDb } from '../../src/store/db';
import { idbDeviceStore, idbKeyPackageStore } from '../../src/store/device-store';
import type { Account } from '../net/accounts';
import { startFaultProxy, type FaultProxy } from '../net/fault-proxy';
import { clock, type TestDevice } from './device-harness';

/**
 * A test device whose whole network path to the PDS goes through its own fault proxy: writes
 * through an AtpAgent whose service is the proxy, reads (listings, blobs, CAR proofs) through a
 * resolver that resolves the DID for real at the PLC and then names the proxy as the PDS. No
 * production code changes: identity, publicRepos and the prover are the shipped ones.
 */
export interface ProxiedDevice extends TestDevice {
  proxy: FaultProxy;
}

/** The client timeout every proxied request runs under (the extension's default is 15 s). */
export const CLIENT_TIMEOUT_MS = 1_000;

let suite: Promise<MlsSuite> | undefined;

/** Resolves DIDs at the real PLC, but every PDS endpoint becomes `pds`. */
export function resolverVia(plcUrl: string, pds: string): IdentityResolver {
  const real = createIdentityResolver({ plcUrl });
  return { resolveDid: async (did, options) => ({ ...(await real.resolveDid(did, options)), pds }) };
}

export async function startProxiedDevice(
  name: string,
  account: Account,
  net: { pdsUrl: string; plcUrl: string },
  options: { seed: number; pool?: PoolPolicy },
): Promise<ProxiedDevice> {
  const proxy = await startFaultProxy(net.pdsUrl, { seed: options.seed });
  const fetch = proxy.clientFetch(CLIENT_TIMEOUT_MS);
  const agent = new AtpAgent({ service: proxy.url, fetch });
  await agent.resumeSession({
    did: account.did,
    handle: account.handle,
    accessJwt: account.accessJwt,
    refreshJwt: account.refreshJwt,
    active: true,
  });
  const identity = resolverVia(net.plcUrl, proxy.url);
  const as = createAuthenticationService({ prover: createRecordProver({ identity, fetch }), clock });
  const reader = publicRepos({ identity, fetch, timeoutMs: CLIENT_TIMEOUT_MS });
  const db = await openAtmDb(`atm-${name}-${newTid()}`);
  const mls: MlsContext = { suite: await (suite ??= createSuite()), auth: mlsAuthService(as), clock };
  const repo = agentOwnRepo(agent, account.did);
  const keyPackages = idbKeyPackageStore(db);
  const device = await ensureDevice({ repo, devices: idbDeviceStore(db), suite: mls.suite, clock, newTid });
  await replenishKeyPackages({
    repo,
    publicRepos: reader,
    keyPackages,
    device,
    mls,
    newTid,
    policy: options.pool ?? DEFAULT_POOL_POLICY,
  });
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
    proxy,
  };
}
