import { toHex } from '../bytes';
import { AtmError } from '../errors';
import {
  addMembers,
  createGroup,
  decodeKeyPackageMessage,
  epoch,
  generateKeyPackage,
  groupId,
  joinGroup,
  readWelcome,
  welcomeRecipients,
  type GroupState,
  type MlsContext,
  type PrivateKeyPackage,
  type WelcomeSummary,
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
 * How far a long group operation got, for a progress bar: counts only, never names or keys.
 * `devices`: people whose devices were looked up and proven (one step per person);
 * `invites`: stealth invites sealed (one step per added device).
 */
export interface GroupProgress {
  phase: 'devices' | 'invites';
  done: number;
  total: number;
}

/**
 * Creates a group holding this device and every device the given DIDs publish (our own other
 * devices included). Each KeyPackage was found in its owner's repo and passed the
 * Authentication Service; the caller persists `state` before sending `commit`/`welcome`.
 */
export async function createGroupWithDevices(
  deps: { device: LocalDevice; mls: MlsContext; publicRepos: PublicRepos },
  dids: readonly string[],
  conversation?: string,
  onProgress?: (progress: GroupProgress) => void,
): Promise<NewGroup> {
  const own = await generateKeyPackage(deps.mls, {
    identity: deps.device.uri,
    signatureKeyPair: deps.device.signature,
  });
  const state = await createGroup(deps.mls, {
    keyPackage: own.keyPackage,
    privateKeyPackage: own.privateKeyPackage,
    ...(conversation === undefined ? {} : { conversation }),
  });
  const added: DeviceKeyPackage[] = [];
  const missing: string[] = [];
  const skipped: SkippedRecord[] = [];
  const people = new Set([deps.device.did, ...dids]);
  let looked = 0;
  onProgress?.({ phase: 'devices', done: 0, total: people.size });
  for (const did of people) {
    const found = await findKeyPackages(deps, did, {
      excludeDevices: did === deps.device.did ? new Set([deps.device.rkey]) : undefined,
    });
    added.push(...found.keyPackages);
    missing.push(...found.devicesWithout.map((d) => `${did}#${d}`));
    skipped.push(...found.skipped);
    onProgress?.({ phase: 'devices', done: ++looked, total: people.size });
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


/**
 * Identifies a Welcome for replay protection by what it means, not by its bytes (§6.6): the
 * group, the epoch it joins at and the KeyPackage it is for, as the decrypted GroupInfo and
 * secrets say. Reordering or padding a Welcome's secrets gives other bytes with the same
 * meaning; it has the same id.
 */
export async function welcomeId(joined: { groupId: Uint8Array; epoch: bigint }, keyPackageRef: string): Promise<string> {
  const text = `atmessaging/v1 welcome/${toHex(joined.groupId)}/${joined.epoch}/${keyPackageRef}`;
  const bytes = new TextEncoder().encode(text);
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * Joins from a Welcome with whichever of this device's KeyPackages it names.
 *
 * A Welcome is used at most once: re-joining from an old Welcome would roll the group back to
 * its first epoch and restart our sending ratchet, re-using AEAD keys and nonces. Its id is
 * what it means (`welcomeId`), so a re-encoded copy is the same Welcome. `persist` MUST also
 * refuse an epoch at or below one this device was already in, MUST store the new state and the
 * Welcome's id in one transaction, and `usedWelcome` must
 * answer from that same store. Consuming the package (record deleted; private keys erased by the
 * pool's sweep after a short grace) comes after and is best-effort.
 */
export async function joinFromWelcome(
  deps: {
    repo: OwnRepo;
    keyPackages: KeyPackageStore;
    mls: MlsContext;
    usedWelcome(id: string): Promise<boolean>;
  },
  welcome: Uint8Array,
  ratchetTree: Uint8Array | undefined,
  persist: (state: GroupState, welcomeId: string, joined: { lastResort: boolean }) => Promise<void>,
  /** Refuses (throws) a Welcome not worth joining, from what it says before the costly join. */
  admit?: (summary: WelcomeSummary) => Promise<void>,
): Promise<{ state: GroupState; keyPackageRef: string; lastResort: boolean; consumed: boolean }> {
  let secret;
  for (const ref of welcomeRecipients(welcome).map(toHex)) {
    secret = await deps.keyPackages.get(ref);
    if (secret) break;
  }
  if (!secret) {
    throw new AtmError('WelcomeNotForUs', 'this Welcome names none of our key packages (or it was already used)');
  }
  const params = {
    welcome,
    ratchetTree,
    keyPackage: decodeKeyPackageMessage(secret.encoded),
    privateKeyPackage: secret.privateKeyPackage as PrivateKeyPackage,
  };
  if (admit) await admit(await readWelcome(deps.mls, params));
  const state = await joinGroup(deps.mls, params);
  // Checked once the Welcome is open: its id is what it means (joining is pure, nothing is kept).
  const id = await welcomeId({ groupId: groupId(state), epoch: epoch(state) }, secret.ref);
  if (await deps.usedWelcome(id)) {
    throw new AtmError('WelcomeReplayed', 'this Welcome was already used', { welcomeId: id });
  }
  await persist(state, id, { lastResort: secret.lastResort });
  let consumed = true;
  try {
    await consumeKeyPackage({ ...deps, now: deps.mls.clock.now() }, secret.ref);
  } catch {
    consumed = false;
  }
  return { state, keyPackageRef: secret.ref, lastResort: secret.lastResort, consumed };
}
