import { isValidTid } from '@atproto/syntax';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  consumeKeyPackage,
  DEFAULT_POOL_POLICY,
  replenishKeyPackages,
  type PoolDeps,
  type PoolPolicy,
} from '../../../src/engine/key-package-pool';
import type { KeyPackageSecret, LocalDevice } from '../../../src/engine/ports';
import { isAtmError } from '../../../src/errors';
import {
  createSuite,
  decodeKeyPackageMessage,
  deviceUri,
  generateKeyPackage,
  generateSignatureKeyPair,
  isLastResort,
  keyPackageLifetime,
  keyPackageReference,
  validateKeyPackage,
  type AuthenticationService,
  type MlsContext,
  type MlsSuite,
  type PrivateKeyPackage,
} from '../../../src/mls';
import {
  KEY_PACKAGE,
  KEY_PACKAGE_COLLECTION_NSID as KP,
  parseRecord,
  recordJson,
  type KeyPackageRecord,
} from '../../../src/protocol/records';
import { openAtmDb, type AtmDb } from '../../../src/store/db';
import { idbKeyPackageStore } from '../../../src/store/device-store';
import { MemoryRepo, tidSequence } from './memory-repo';

// Unit level: real MLS (ts-mls suite 1), real IndexedDB semantics (fake-indexeddb), an in-memory
// repo. The same flow against a real PDS is covered by test/integration/identity.test.ts.

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const DEVICE_RKEY = '3lbdevice2222';
const OTHER_DEVICE_RKEY = '3lbotherdev22';
const DAY = 24 * 3600_000;

let suite: MlsSuite;
beforeAll(async () => {
  suite = await createSuite();
});

const openDbs: AtmDb[] = [];
afterEach(() => {
  for (const db of openDbs.splice(0)) db.close();
});

let dbCounter = 0;
async function freshDb(name = `atm-pool-test-${Date.now()}-${dbCounter++}`): Promise<{ db: AtmDb; name: string }> {
  const db = await openAtmDb(name);
  openDbs.push(db);
  return { db, name };
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

async function newLocalDevice(rkey: string): Promise<LocalDevice> {
  const invite = (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  return {
    did: DID,
    rkey,
    uri: deviceUri({ did: DID, rkey }),
    signature: await generateSignatureKeyPair(suite),
    invite: {
      publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', invite.publicKey)),
      privateKey: invite.privateKey,
    },
    createdAt: new Date().toISOString(),
    published: true,
  };
}

/** Trusts exactly one device: its identity with its signature key. */
function onlyDevice(device: LocalDevice): AuthenticationService & { asked: string[] } {
  const asked: string[] = [];
  const auth = async (identity: string, key: Uint8Array) => {
    asked.push(identity);
    return identity === device.uri && sameBytes(key, device.signature.publicKey);
  };
  return Object.assign(auth, { asked });
}

interface Env {
  repo: MemoryRepo;
  device: LocalDevice;
  clock: { now(): number; set(ms: number): void };
  ctx: MlsContext;
  tids: ReturnType<typeof tidSequence>;
  policy: PoolPolicy;
  dbName: string;
  deps: PoolDeps;
}

async function setup(policy: PoolPolicy = DEFAULT_POOL_POLICY): Promise<Env> {
  // Whole seconds, as KeyPackage lifetimes are; starts at the real time like the other MLS tests.
  let t = Math.floor(Date.now() / 1000) * 1000;
  const clock = { now: () => t, set: (ms: number) => void (t = ms) };
  const device = await newLocalDevice(DEVICE_RKEY);
  const ctx: MlsContext = { suite, auth: onlyDevice(device), clock };
  const repo = new MemoryRepo(DID);
  const tids = tidSequence();
  const { db, name } = await freshDb();
  const deps: PoolDeps = {
    repo,
    publicRepos: repo,
    keyPackages: idbKeyPackageStore(db),
    device,
    mls: ctx,
    newTid: () => tids.next(),
    policy,
  };
  return { repo, device, clock, ctx, tids, policy, dbName: name, deps };
}

/** Reopens the database by name, so what follows reads what IndexedDB persisted, not a live object. */
async function reopen(env: Env): Promise<void> {
  const { db } = await freshDb(env.dbName);
  env.deps.keyPackages = idbKeyPackageStore(db);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** The public half really is the one the stored private key opens (HPKE seal, then open). */
async function hpkePairMatches(publicKey: Uint8Array, privateKey: Uint8Array): Promise<boolean> {
  const hpke = suite.impl.hpke;
  const plaintext = crypto.getRandomValues(new Uint8Array(32));
  const info = new TextEncoder().encode('key-package-pool test');
  const { ct, enc } = await hpke.seal(await hpke.importPublicKey(publicKey), plaintext, info);
  try {
    return sameBytes(await hpke.open(await hpke.importPrivateKey(privateKey), enc, ct, info), plaintext);
  } catch {
    return false;
  }
}

interface OwnRecord {
  rkey: string;
  cid: string;
  record: KeyPackageRecord;
}

/** This device's keyPackage records (others' and unparseable ones left out). */
async function ownRecords(env: Env): Promise<OwnRecord[]> {
  const out: OwnRecord[] = [];
  for (const r of await env.repo.listRecords(DID, KP)) {
    let record: KeyPackageRecord;
    try {
      record = parseRecord(KEY_PACKAGE, r.value, r.uri);
    } catch {
      continue;
    }
    if (record.device === env.device.rkey) out.push({ rkey: r.rkey, cid: r.cid, record });
  }
  return out;
}

/**
 * The published pool is exactly the policy: every record of this device validates, is a package
 * of this device that the AS accepts, is filed under a TID from newTid, and has a local secret in
 * state 'published' whose keys open it; every 'published' secret has its record; no package twice.
 */
async function expectPool(env: Env): Promise<{ records: OwnRecord[]; secrets: KeyPackageSecret[] }> {
  const records = await ownRecords(env);
  const secrets = await env.deps.keyPackages.list();
  const secretByRkey = new Map(secrets.map((s) => [s.rkey, s]));

  for (const { rkey, record } of records) {
    expect(isValidTid(rkey), rkey).toBe(true);
    expect(env.tids.issued).toContain(rkey);
    expect(record.device).toBe(env.device.rkey);
    expect(record.cipherSuite).toBe(1);
    const secret = secretByRkey.get(rkey);
    expect(secret, `record ${rkey} has no local secret`).toBeDefined();
    if (!secret) continue;
    expect(secret.state).toBe('published');
    expect(sameBytes(record.keyPackage, secret.encoded)).toBe(true);
    expect(record.lastResort).toBe(secret.lastResort);

    const kp = decodeKeyPackageMessage(record.keyPackage);
    expect(await validateKeyPackage(env.ctx, kp)).toBe(env.device.uri);
    expect(isLastResort(kp)).toBe(record.lastResort);
    expect(hex(await keyPackageReference(suite, kp))).toBe(secret.ref);
    expect(Date.parse(record.expiresAt)).toBe(secret.notAfter);
    expect(keyPackageLifetime(kp).notAfter).toBe(secret.notAfter);

    const priv = secret.privateKeyPackage as PrivateKeyPackage;
    expect(sameBytes(priv.signaturePrivateKey, env.device.signature.signKey)).toBe(true);
    expect(await hpkePairMatches(kp.initKey, priv.initPrivateKey)).toBe(true);
    expect(await hpkePairMatches(kp.leafNode.hpkePublicKey, priv.hpkePrivateKey)).toBe(true);
  }

  const recordRkeys = new Set(records.map((r) => r.rkey));
  const publishedSecrets = secrets.filter((s) => s.state === 'published');
  for (const s of publishedSecrets) {
    expect(recordRkeys.has(s.rkey), `secret ${s.ref.slice(0, 8)} says published but ${s.rkey} has no record`).toBe(true);
  }
  expect(secrets.filter((s) => s.state === 'pending')).toEqual([]);
  expect(new Set(records.map((r) => hex(r.record.keyPackage))).size).toBe(records.length);
  expect(new Set(secrets.map((s) => s.rkey)).size).toBe(secrets.length);

  expect(records.filter((r) => !r.record.lastResort)).toHaveLength(env.policy.oneTime);
  expect(records.filter((r) => r.record.lastResort)).toHaveLength(env.policy.lastResort);
  expect(publishedSecrets).toHaveLength(env.policy.oneTime + env.policy.lastResort);
  return { records, secrets };
}

const NOTHING = { published: 0, withdrawn: 0, orphansDeleted: 0, forgotten: 0 };
const total = (p: PoolPolicy) => p.oneTime + p.lastResort;

describe('replenishKeyPackages: a fresh device', () => {
  it.each([
    ['the default policy (10 + 1)', DEFAULT_POOL_POLICY],
    ['a custom policy (3 + 2)', { ...DEFAULT_POOL_POLICY, oneTime: 3, lastResort: 2 }],
  ])('publishes exactly the pool of %s, then nothing more', async (_, policy) => {
    const env = await setup(policy);
    expect(await env.deps.keyPackages.list()).toEqual([]);

    const report = await replenishKeyPackages(env.deps);
    expect(report).toEqual({ ...NOTHING, published: total(policy) });
    const { records, secrets } = await expectPool(env);
    expect(records).toHaveLength(total(policy));
    expect(secrets).toHaveLength(total(policy));
    expect(env.repo.size(KP)).toBe(total(policy));
    // One putRecord per package, each under its own rkey; nothing deleted.
    expect(env.repo.writes.map((w) => w.op)).toEqual(Array(total(policy)).fill('put'));
    expect(new Set(env.repo.writes.map((w) => w.rkey)).size).toBe(total(policy));
    // Each secret is stored under its KeyPackageRef.
    for (const s of secrets) expect((await env.deps.keyPackages.get(s.ref))?.rkey).toBe(s.rkey);
    for (const s of secrets) expect(s.notAfter).toBe(env.clock.now() + policy.lifetimeMs);

    await reopen(env);
    const writes = env.repo.writes.length;
    expect(await replenishKeyPackages(env.deps)).toEqual(NOTHING);
    expect(env.repo.writes).toHaveLength(writes);
    expect(await env.deps.keyPackages.list()).toEqual(secrets);
    await expectPool(env);
  });
});

describe('replenishKeyPackages: crash safety', () => {
  const n = total(DEFAULT_POOL_POLICY);
  it.each([
    { call: 1, landed: false },
    { call: 5, landed: false },
    { call: n, landed: false }, // the last-resort package
    { call: 1, landed: true },
    { call: 7, landed: true },
    { call: n, landed: true },
  ])('putRecord failing on call $call (write landed: $landed) is finished under the same rkey', async ({ call, landed }) => {
    const env = await setup();
    env.repo.failOnce('put', call, { landed });

    const error = await rejection(replenishKeyPackages(env.deps));
    expect(isAtmError(error, 'Network')).toBe(true);
    const failed = env.repo.failed;
    expect(failed?.op).toBe('put');
    if (!failed) return;

    await reopen(env); // the browser restarted
    const stored = await env.deps.keyPackages.list();
    expect(stored).toHaveLength(call);
    const pending = stored.filter((s) => s.state === 'pending');
    expect(pending).toHaveLength(1);
    const [interrupted] = pending as [KeyPackageSecret];
    expect(interrupted.rkey).toBe(failed.rkey);
    expect(interrupted.lastResort).toBe(call === n);
    expect(stored.filter((s) => s.state === 'published')).toHaveLength(call - 1);
    expect(env.repo.get(KP, failed.rkey) !== undefined).toBe(landed);

    const writesBefore = env.repo.writes.length;
    const report = await replenishKeyPackages(env.deps);
    expect(report).toEqual({ ...NOTHING, published: n - call });
    const { records, secrets } = await expectPool(env);
    expect(records).toHaveLength(n);
    expect(secrets).toHaveLength(n);
    expect(env.repo.size(KP)).toBe(n);

    // The interrupted package was written again under the rkey chosen before the crash.
    const retried = records.find((r) => r.rkey === failed.rkey);
    expect(retried).toBeDefined();
    expect(sameBytes(retried!.record.keyPackage, interrupted.encoded)).toBe(true);
    expect(await env.deps.keyPackages.get(interrupted.ref)).toMatchObject({ rkey: failed.rkey, state: 'published' });
    const newWrites = env.repo.writes.slice(writesBefore);
    expect(newWrites.filter((w) => w.rkey === failed.rkey)).toEqual([{ op: 'put', collection: KP, rkey: failed.rkey, landed: true }]);
    expect(newWrites.every((w) => w.op === 'put')).toBe(true);
    expect(newWrites).toHaveLength(1 + n - call);
  });
});

describe('replenishKeyPackages: expiry', () => {
  it('withdraws the whole pool within renewBeforeMs of notAfter, replaces it, and forgets the old keys after the grace period', async () => {
    const env = await setup();
    const policy = env.policy;
    await replenishKeyPackages(env.deps);
    const first = await env.deps.keyPackages.list();
    const notAfter = first[0]!.notAfter;
    expect(first.every((s) => s.notAfter === notAfter)).toBe(true);

    // Just outside the renewal window: nothing to do.
    env.clock.set(notAfter - policy.renewBeforeMs - 1000);
    expect(await replenishKeyPackages(env.deps)).toEqual(NOTHING);

    // Inside it: every package is withdrawn and a full new pool published.
    env.clock.set(notAfter - policy.renewBeforeMs + 1000);
    const writesBefore = env.repo.writes.length;
    expect(await replenishKeyPackages(env.deps)).toEqual({
      ...NOTHING,
      withdrawn: total(policy),
      published: total(policy),
    });
    const deletes = env.repo.writes.slice(writesBefore).filter((w) => w.op === 'delete');
    expect(deletes.map((w) => w.rkey).sort()).toEqual(first.map((s) => s.rkey).sort());
    for (const old of first) {
      expect(env.repo.get(KP, old.rkey)).toBeUndefined();
      // Private keys kept (state withdrawn) for Welcomes in flight, otherwise unchanged.
      expect(await env.deps.keyPackages.get(old.ref)).toEqual({ ...old, state: 'withdrawn' });
    }
    const { records, secrets } = await expectPool(env);
    expect(records).toHaveLength(total(policy));
    const oldRefs = new Set(first.map((s) => s.ref));
    const oldRkeys = new Set(first.map((s) => s.rkey));
    expect(records.every((r) => !oldRkeys.has(r.rkey))).toBe(true);
    expect(secrets.filter((s) => s.state === 'published').every((s) => !oldRefs.has(s.ref))).toBe(true);
    expect(secrets).toHaveLength(2 * total(policy));

    // Expired but within the grace period: the withdrawn keys stay and are not republished.
    env.clock.set(notAfter + 1000);
    expect(await replenishKeyPackages(env.deps)).toEqual(NOTHING);
    for (const old of first) expect((await env.deps.keyPackages.get(old.ref))?.state).toBe('withdrawn');

    // Past notAfter + graceMs: forgotten. The new pool is untouched.
    env.clock.set(notAfter + policy.graceMs + 1000);
    const writesBeforeForget = env.repo.writes.length;
    expect(await replenishKeyPackages(env.deps)).toEqual({ ...NOTHING, forgotten: total(policy) });
    expect(env.repo.writes).toHaveLength(writesBeforeForget);
    for (const old of first) expect(await env.deps.keyPackages.get(old.ref)).toBeUndefined();
    const after = await expectPool(env);
    expect(after.secrets).toHaveLength(total(policy));
    expect(after.records.map((r) => r.cid).sort()).toEqual(records.map((r) => r.cid).sort());
  });

  it('a device back after a long absence withdraws, forgets and replaces in one run', async () => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const first = await env.deps.keyPackages.list();
    env.clock.set(first[0]!.notAfter + env.policy.graceMs + DAY);

    expect(await replenishKeyPackages(env.deps)).toEqual({
      published: total(env.policy),
      withdrawn: total(env.policy),
      orphansDeleted: 0,
      forgotten: total(env.policy),
    });
    for (const old of first) {
      expect(env.repo.get(KP, old.rkey)).toBeUndefined();
      expect(await env.deps.keyPackages.get(old.ref)).toBeUndefined();
    }
    const { secrets } = await expectPool(env);
    expect(secrets).toHaveLength(total(env.policy));
  });
});

describe('replenishKeyPackages: orphans', () => {
  async function recordFor(env: Env, identity: string, signature: LocalDevice['signature'], device: string) {
    const kp = await generateKeyPackage(env.ctx, { identity, signatureKeyPair: signature });
    return recordJson(
      KEY_PACKAGE,
      KEY_PACKAGE.$build({
        keyPackage: kp.encoded,
        device,
        cipherSuite: 1,
        createdAt: new Date(env.clock.now()).toISOString() as KeyPackageRecord['createdAt'],
        expiresAt: new Date(kp.lifetime.notAfter).toISOString() as KeyPackageRecord['expiresAt'],
        lastResort: false,
      }),
    );
  }

  it("deletes this device's records without a secret; leaves other devices' and unparseable records", async () => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const before = await expectPool(env);

    // A valid package of this very device whose private half is gone (e.g. from a lost database).
    const orphanRkey = env.tids.next();
    env.repo.seed(KP, orphanRkey, await recordFor(env, env.device.uri, env.device.signature, env.device.rkey));
    // Another device of the same user.
    const other = await newLocalDevice(OTHER_DEVICE_RKEY);
    const otherRkey = env.tids.next();
    const otherJson = await recordFor(env, other.uri, other.signature, OTHER_DEVICE_RKEY);
    env.repo.seed(KP, otherRkey, otherJson);
    // Records this version cannot read, one of them naming our device.
    const unparseable = {
      $type: KP,
      keyPackage: 'not bytes',
      device: env.device.rkey,
      cipherSuite: 1,
      createdAt: 'yesterday',
      expiresAt: 'tomorrow',
      lastResort: 'maybe',
    };
    const unparseableRkey = env.tids.next();
    env.repo.seed(KP, unparseableRkey, unparseable);
    const untypedRkey = env.tids.next();
    const untyped = { device: env.device.rkey, hello: 'world' };
    env.repo.seed(KP, untypedRkey, untyped);
    const otherCid = env.repo.get(KP, otherRkey)!.cid;
    const unparseableCid = env.repo.get(KP, unparseableRkey)!.cid;
    const untypedCid = env.repo.get(KP, untypedRkey)!.cid;

    const writesBefore = env.repo.writes.length;
    expect(await replenishKeyPackages(env.deps)).toEqual({ ...NOTHING, orphansDeleted: 1 });
    expect(env.repo.writes.slice(writesBefore)).toEqual([{ op: 'delete', collection: KP, rkey: orphanRkey, landed: true }]);
    expect(env.repo.get(KP, orphanRkey)).toBeUndefined();
    expect(env.repo.get(KP, otherRkey)).toEqual({ cid: otherCid, json: otherJson });
    expect(env.repo.get(KP, unparseableRkey)).toEqual({ cid: unparseableCid, json: unparseable });
    expect(env.repo.get(KP, untypedRkey)).toEqual({ cid: untypedCid, json: untyped });

    const after = await expectPool(env);
    expect(after.records.map((r) => r.cid).sort()).toEqual(before.records.map((r) => r.cid).sort());
    expect(env.repo.size(KP)).toBe(total(env.policy) + 3);
  });

  it('deletes a record whose secret is already withdrawn and publishes a replacement', async () => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const victim = (await env.deps.keyPackages.list()).find((s) => !s.lastResort)!;
    await env.deps.keyPackages.put({ ...victim, state: 'withdrawn' });

    expect(await replenishKeyPackages(env.deps)).toEqual({ ...NOTHING, orphansDeleted: 1, published: 1 });
    expect(env.repo.get(KP, victim.rkey)).toBeUndefined();
    expect((await env.deps.keyPackages.get(victim.ref))?.state).toBe('withdrawn');
    await expectPool(env);
  });
});

describe('consumeKeyPackage', () => {
  it('withdraws a one-time package (record now, keys after the grace), keeps a last-resort one, refuses an unknown ref', async () => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const secrets = await env.deps.keyPackages.list();
    const oneTime = secrets.find((s) => !s.lastResort)!;
    const lastResort = secrets.find((s) => s.lastResort)!;
    const lastResortRecord = env.repo.get(KP, lastResort.rkey);
    expect(lastResortRecord).toBeDefined();

    const consumedAt = env.clock.now();
    const consumed = await consumeKeyPackage({ ...env.deps, now: consumedAt }, oneTime.ref);
    expect(consumed).toEqual(oneTime);
    expect(env.repo.get(KP, oneTime.rkey)).toBeUndefined();
    // Its keys stay a while, withdrawn, for a second Welcome that picked it concurrently.
    expect(await env.deps.keyPackages.get(oneTime.ref)).toEqual({ ...oneTime, state: 'withdrawn', consumedAt });
    expect(env.repo.size(KP)).toBe(total(env.policy) - 1);
    const writes = env.repo.writes.length;
    await consumeKeyPackage({ ...env.deps, now: consumedAt + 5 }, oneTime.ref);
    expect(env.repo.writes).toHaveLength(writes);
    expect((await env.deps.keyPackages.get(oneTime.ref))?.consumedAt).toBe(consumedAt);

    // Used once more by a second Welcome: still there.
    for (let i = 0; i < 2; i++) {
      const kept = await consumeKeyPackage({ ...env.deps, now: env.clock.now() }, lastResort.ref);
      expect(kept).toEqual(lastResort);
      expect(env.repo.get(KP, lastResort.rkey)).toEqual(lastResortRecord);
      expect(await env.deps.keyPackages.get(lastResort.ref)).toEqual(lastResort);
    }

    const error = await rejection(consumeKeyPackage({ ...env.deps, now: env.clock.now() }, '00'.repeat(32)));
    expect(isAtmError(error, 'WelcomeNotForUs'), String(error)).toBe(true);

    // The pool is topped up with exactly the one package used; its keys go after the grace.
    expect(await replenishKeyPackages(env.deps)).toEqual({ ...NOTHING, published: 1 });
    await expectPool(env);
    env.clock.set(consumedAt + env.policy.consumedGraceMs + 1);
    expect(await replenishKeyPackages(env.deps)).toEqual({ ...NOTHING, forgotten: 1 });
    expect(await env.deps.keyPackages.get(oneTime.ref)).toBeUndefined();
    const gone = await rejection(consumeKeyPackage({ ...env.deps, now: env.clock.now() }, oneTime.ref));
    expect(isAtmError(gone, 'WelcomeNotForUs'), String(gone)).toBe(true);
  });

  it('a withdrawn one-time package (Welcome in flight) is consumed without touching the repo', async () => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const notAfter = (await env.deps.keyPackages.list())[0]!.notAfter;
    env.clock.set(notAfter - env.policy.renewBeforeMs + 1000);
    await replenishKeyPackages(env.deps);
    const withdrawn = (await env.deps.keyPackages.list()).find((s) => s.state === 'withdrawn' && !s.lastResort)!;

    const writesBefore = env.repo.writes.length;
    expect(await consumeKeyPackage({ ...env.deps, now: env.clock.now() }, withdrawn.ref)).toEqual(withdrawn);
    expect(env.repo.writes).toHaveLength(writesBefore);
    expect((await env.deps.keyPackages.get(withdrawn.ref))?.consumedAt).toBe(env.clock.now());
    await expectPool(env);
  });
});

describe('replenishKeyPackages: local state and repo disagree', () => {
  it.each([
    {
      what: 'a one-time package whose consumption lost the deleteRecord answer',
      lose: async (env: Env, secret: KeyPackageSecret) => {
        env.repo.failOnce('delete', 1, { landed: true });
        expect(isAtmError(await rejection(consumeKeyPackage({ ...env.deps, now: env.clock.now() }, secret.ref)), 'Network')).toBe(true);
      },
      lastResort: false,
    },
    {
      what: 'the last-resort package whose record was deleted by another client',
      lose: async (env: Env, secret: KeyPackageSecret) => env.repo.drop(KP, secret.rkey),
      lastResort: true,
    },
  ])('replaces $what (record gone)', async ({ lose, lastResort }) => {
    const env = await setup();
    await replenishKeyPackages(env.deps);
    const victim = (await env.deps.keyPackages.list()).find((s) => s.lastResort === lastResort)!;
    await lose(env, victim);
    expect(env.repo.get(KP, victim.rkey)).toBeUndefined();
    // A consumed package is marked used before its record is deleted; a record deleted by
    // someone else leaves a secret that still says published.
    expect((await env.deps.keyPackages.get(victim.ref))?.state).toBe(lastResort ? 'published' : 'withdrawn');

    await replenishKeyPackages(env.deps);
    // The published pool is back at policy and local state agrees with the repo ...
    await expectPool(env);
    // ... and the private keys are still there, so a retried join with a Welcome naming it works.
    expect(await env.deps.keyPackages.get(victim.ref)).toBeDefined();
  });
});
