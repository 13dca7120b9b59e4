import {
  addMembers,
  createGroup,
  createSuite,
  joinGroup,
  MlsLayerError,
  processCommit,
  type AddMembersResult,
  type GroupState,
  deviceUri,
  generateKeyPackage,
  generateSignatureKeyPair,
  type AuthenticationService,
  type Clock,
  type GeneratedKeyPackage,
  type MlsContext,
  type MlsSuite,
  type SignatureKeyPair,
} from '../../../src/mls';

/** A device as the engine would hold it: identity, signing key pair and a way to mint packages. */
export interface TestDevice {
  name: string;
  identity: string;
  keys: SignatureKeyPair;
}

// ts-mls re-checks lifetimes of committed KeyPackages with Date.now(), so test clocks start at the real time.
export const NOW = Date.now();

export function fixedClock(now = NOW): Clock & { set(ms: number): void } {
  let t = now;
  return { now: () => t, set: (ms) => (t = ms) };
}

let sharedSuite: Promise<MlsSuite> | undefined;
export function suite(): Promise<MlsSuite> {
  sharedSuite ??= createSuite();
  return sharedSuite;
}

/** Maps a test name onto the base32 alphabet that DIDs and TIDs use. */
function base32(name: string): string {
  return name.toLowerCase().replace(/[^a-z2-7]/g, 'a');
}

export async function newDevice(name: string, s?: MlsSuite): Promise<TestDevice> {
  const theSuite = s ?? (await suite());
  return {
    name,
    identity: deviceUri({ did: `did:plc:${base32(name).padEnd(24, 'x')}`, rkey: `3k${base32(name)}`.padEnd(13, 'a').slice(0, 13) }),
    keys: await generateSignatureKeyPair(theSuite),
  };
}

/**
 * An AS standing in for the repo check: it trusts an identity only with the signature key that
 * was registered for it, and can be told to refuse. It records every question it was asked.
 */
export function registryAuth(devices: TestDevice[] = []) {
  const keys = new Map<string, string>();
  const refused = new Set<string>();
  const asked: string[] = [];
  for (const d of devices) keys.set(d.identity, hex(d.keys.publicKey));
  const auth: AuthenticationService = async (identity, signaturePublicKey) => {
    asked.push(identity);
    if (refused.has(identity)) return false;
    return keys.get(identity) === hex(signaturePublicKey);
  };
  return {
    auth,
    asked,
    register: (d: TestDevice) => keys.set(d.identity, hex(d.keys.publicKey)),
    refuse: (identity: string) => refused.add(identity),
  };
}

export async function contextFor(auth: AuthenticationService, clock: Clock = fixedClock()): Promise<MlsContext> {
  return { suite: await suite(), auth, clock };
}

export function keyPackageFor(ctx: MlsContext, device: TestDevice, lastResort = false): Promise<GeneratedKeyPackage> {
  return generateKeyPackage(ctx, { identity: device.identity, signatureKeyPair: device.keys, lastResort });
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export const utf8 = (s: string) => new TextEncoder().encode(s);
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

export interface Fixture {
  ctx: MlsContext;
  registry: ReturnType<typeof registryAuth>;
  devices: TestDevice[];
  /** Each device's state after the add commit, by the device's position in `names`. */
  states: GroupState[];
  /** The creator's state before the add commit (epoch 0). */
  initial: GroupState;
  add: AddMembersResult;
}

/** The first name creates the group and adds all the others with one commit and one Welcome. */
export async function buildGroup(names: string[], clock: Clock = fixedClock()): Promise<Fixture> {
  const devices = await Promise.all(names.map((n) => newDevice(n)));
  const registry = registryAuth(devices);
  const ctx = await contextFor(registry.auth, clock);
  const packages = await Promise.all(devices.map((d) => keyPackageFor(ctx, d)));
  const [creatorPackage, ...joinerPackages] = packages as [GeneratedKeyPackage, ...GeneratedKeyPackage[]];
  const initial = await createGroup(ctx, {
    keyPackage: creatorPackage.keyPackage,
    privateKeyPackage: creatorPackage.privateKeyPackage,
  });
  const add = await addMembers(ctx, initial, joinerPackages.map((p) => p.keyPackage));
  const joined = await Promise.all(
    joinerPackages.map((p) =>
      joinGroup(ctx, {
        welcome: add.welcome,
        ratchetTree: add.ratchetTree,
        keyPackage: p.keyPackage,
        privateKeyPackage: p.privateKeyPackage,
      }),
    ),
  );
  return { ctx, registry, devices, states: [add.newState, ...joined], initial, add };
}

/** Applies a commit to every listed state (the committer's own state is passed through as is). */
export async function everyoneProcesses(
  ctx: MlsContext,
  states: GroupState[],
  committerIndex: number,
  committed: { newState: GroupState; commit: Uint8Array },
): Promise<GroupState[]> {
  return Promise.all(
    states.map(async (s, i) =>
      i === committerIndex ? committed.newState : (await processCommit(ctx, s, committed.commit)).newState,
    ),
  );
}

/** Runs `op` and returns the MlsLayerError it must throw. */
export async function rejection(op: () => Promise<unknown> | unknown): Promise<MlsLayerError> {
  try {
    await op();
  } catch (err) {
    if (err instanceof MlsLayerError) return err;
    throw err;
  }
  throw new Error('expected an MlsLayerError, but the operation succeeded');
}
