import { AtmError } from '../errors';
import {
  addMembers,
  createGroup,
  decodeKeyPackageMessage,
  generateKeyPackage,
  joinGroup,
  welcomeRecipients,
  type GroupState,
  type MlsContext,
  type PrivateKeyPackage,
} from '../mls';
import { findKeyPackages, type DeviceKeyPackage, type SkippedRecord } from './key-package-directory';
import { consumeKeyPackage } from './key-package-pool';
import type { KeyPackageStore, LocalDevice, OwnRepo, PublicRepos } from './ports';

export interface NewGroup {
  state: GroupState;
  /** Undefined when nobody else could be added yet. */
  commit?: Uint8Array;
  welcome?: Uint8Array;
  ratchetTree?: Uint8Array;
  added: DeviceKeyPackage[];
  /** `did#deviceRkey` of devices without a usable KeyPackage. */
  missing: string[];
  skipped: SkippedRecord[];
}

/**
 * Creates a group holding this device and every device the given DIDs publish (our own other
 * devices included). Each KeyPackage was found in its owner's repo and passed the
 * Authentication Service; the caller persists `state` before sending `commit`/`welcome`.
 */
export async function createGroupWithDevices(
  deps: { device: LocalDevice; mls: MlsContext; publicRepos: PublicRepos },
  dids: readonly string[],
): Promise<NewGroup> {
  const own = await generateKeyPackage(deps.mls, {
    identity: deps.device.uri,
    signatureKeyPair: deps.device.signature,
  });
  const state = await createGroup(deps.mls, {
    keyPackage: own.keyPackage,
    privateKeyPackage: own.privateKeyPackage,
  });
  const added: DeviceKeyPackage[] = [];
  const missing: string[] = [];
  const skipped: SkippedRecord[] = [];
  for (const did of new Set([deps.device.did, ...dids])) {
    const found = await findKeyPackages(deps, did, {
      excludeDevices: did === deps.device.did ? new Set([deps.device.rkey]) : undefined,
    });
    added.push(...found.keyPackages);
    missing.push(...found.devicesWithout.map((d) => `${did}#${d}`));
    skipped.push(...found.skipped);
  }
  if (added.length === 0) return { state, added, missing, skipped };
  const result = await addMembers(
    deps.mls,
    state,
    added.map((a) => a.keyPackage),
  );
  return {
    state: result.newState,
    commit: result.commit,
    welcome: result.welcome,
    ratchetTree: result.ratchetTree,
    added,
    missing,
    skipped,
  };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Joins from a Welcome with whichever of this device's KeyPackages it names. The new state is
 * handed to `persist` before the package is consumed (record deleted, private keys erased), so
 * a crash in between can redo the consumption but never loses the group.
 */
export async function joinFromWelcome(
  deps: { repo: OwnRepo; keyPackages: KeyPackageStore; mls: MlsContext },
  welcome: Uint8Array,
  ratchetTree: Uint8Array | undefined,
  persist: (state: GroupState) => Promise<void>,
): Promise<{ state: GroupState; keyPackageRef: string; lastResort: boolean }> {
  let secret;
  for (const ref of welcomeRecipients(welcome).map(hex)) {
    secret = await deps.keyPackages.get(ref);
    if (secret) break;
  }
  if (!secret) {
    throw new AtmError('WelcomeNotForUs', 'this Welcome names none of our key packages (or it was already used)');
  }
  const state = await joinGroup(deps.mls, {
    welcome,
    ratchetTree,
    keyPackage: decodeKeyPackageMessage(secret.encoded),
    privateKeyPackage: secret.privateKeyPackage as PrivateKeyPackage,
  });
  await persist(state);
  await consumeKeyPackage(deps, secret.ref);
  return { state, keyPackageRef: secret.ref, lastResort: secret.lastResort };
}
