/**
 * src/mls (patched ts-mls underneath) against OpenMLS (@wireapp/core-crypto 10.3.0, WebAssembly)
 * in mixed groups. README.md in this folder says what core-crypto 10.3.0 can and cannot do with
 * our layer, and so which of src/mls's calls the harness makes itself.
 *
 * ATM_INTEROP_SEEDS: a count (seeds 1..n) or a comma-separated list; npm test runs seeds 1-3,
 * npm run test:adversarial 50. ATM_INTEROP_EPOCHS: commits per seed (200).
 */
import { describe, expect, it } from 'vitest';
import {
  addMembers,
  createGroup,
  decodeKeyPackageMessage,
  generateKeyPackage,
  generateSignatureKeyPair,
  processCommit,
  selfUpdate,
  type MlsLayerError,
} from '../../../../src/mls';
import { contextFor, rejection } from '../helpers';
import { interopIdentity, InteropRegistry } from './identities';
import { describeError, type GroupMember } from './member';
import { InteropFailure, MixedGroup, runMixedGroup } from './mixed-group';
import { OpenMlsMember } from './openmls-member';
import { OursMember } from './ours-member';

export function interopSeeds(value = process.env.ATM_INTEROP_SEEDS): number[] {
  if (!value) return [1, 2, 3];
  if (/^\d+$/.test(value.trim())) return Array.from({ length: Number(value) }, (_, i) => i + 1);
  return value.split(',').map((s) => Number(s.trim()));
}
const EPOCHS = Number(process.env.ATM_INTEROP_EPOCHS || 200);

/** Runs a scripted scenario; an InteropFailure is rethrown with the steps that led to it. */
async function scripted(run: string, body: (group: MixedGroup) => Promise<void>, creator: 'ours' | 'openmls') {
  const group = await MixedGroup.create({ run, senders: 'all' }, creator);
  try {
    await body(group);
  } catch (err) {
    if (err instanceof InteropFailure) err.message += `\n${err.history.join('\n')}`;
    throw err;
  } finally {
    group.dispose();
  }
}

const byName = (group: MixedGroup, name: string): GroupMember => {
  const m = group.members.find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name}`);
  return m;
};

describe('OpenMLS interop: seeded mixed groups', () => {
  for (const seed of interopSeeds()) {
    it(`seed ${seed}: ${EPOCHS} epochs of adds, removes and updates by both implementations`, async () => {
      const started = Date.now();
      let stats;
      try {
        stats = await runMixedGroup({ seed, epochs: EPOCHS });
      } catch (err) {
        if (err instanceof InteropFailure) err.message += `\nsteps so far:\n${err.history.slice(-12).join('\n')}`;
        throw err;
      }
      console.log(`seed ${seed}: ${Date.now() - started} ms ${JSON.stringify(stats)}`);
      expect(stats.epochs).toBe(EPOCHS);
      if (EPOCHS >= 100) {
        // Long enough that every pairing of joiner and Welcome maker happened, and both sides committed.
        expect(Object.values(stats.joins).every((n) => n > 0), JSON.stringify(stats.joins)).toBe(true);
        expect(stats.commitsBy.ours > 0 && stats.commitsBy.openmls > 0).toBe(true);
      }
    }, 600_000);
  }
});

describe('OpenMLS interop: scripted trees', () => {
  /*
   * RFC 9420 §12.4.3.1: the unmerged leaf must be listed from its parent down, not above it. Eight
   * leaves, T1 at leaf 0 and O5 at leaf 4: O5 removes leaf 2 (its path refills the root), T1's
   * update fills parent 3 (parent 5 stays blank beside the freed leaf), T1 adds into leaf 2 (no
   * path: parent 3 and the root list leaf 2), O5 updates from the other half (a new root, which
   * lists nothing). A ts-mls joiner then sees parent 3 list leaf 2 and the root above it not.
   */
  it('a ts-mls member joins after remove, add into the freed leaf and an update from the other half', async () => {
    await scripted(
      'freed-leaf tree',
      async (group) => {
        const t1 = group.members[0]!;
        await group.add(t1, ['openmls', 'ours', 'openmls', 'openmls', 'ours', 'openmls', 'ours']);
        const [o5, t3] = [byName(group, 'O5'), byName(group, 'T3')];
        await group.remove(o5, [t3]);
        await group.update(t1);
        await group.add(t1, ['openmls']);
        await group.update(o5);
        await group.add(t1, ['ours']);
        await group.add(o5, ['ours']);
      },
      'ours',
    );
  }, 120_000);

  /*
   * RFC 9420 §7.4: the commit secret is derived from the path secret of the last node of the
   * committer's *filtered* direct path. When every leaf of one half of the tree is blank, the
   * root's copath child has an empty resolution and the root is not on a committer's filtered
   * direct path (it stays blank). Four leaves: the two left ones are removed in one commit.
   */
  for (const committerSide of ['openmls', 'ours'] as const) {
    it(`a ${committerSide} commit that leaves one half of the tree blank (root off the filtered direct path)`, async () => {
      await scripted(
        `blank-half tree, ${committerSide} committer`,
        async (group) => {
          const creator = group.members[0]!;
          const [b, c, d] = await group.add(creator, ['ours', committerSide, committerSide === 'ours' ? 'openmls' : 'ours']);
          await group.remove(c!, [creator, b!]);
          await group.update(d!);
          await group.update(c!);
        },
        'openmls',
      );
    }, 120_000);
  }
});

/*
 * What src/mls's public API, as it is, meets in core-crypto 10.3.0: these pin the four reasons the
 * harness makes some of src/mls's calls itself (README.md). If one starts failing, core-crypto or
 * src/mls changed and the harness can use more of src/mls.
 */
describe('OpenMLS interop: where src/mls as is and core-crypto 10.3.0 part', () => {
  async function pair() {
    const registry = new InteropRegistry();
    const openmls = await OpenMlsMember.create('O1', interopIdentity(1), registry);
    const ctx = await contextFor(async () => true);
    const ours = await OursMember.create(ctx, 'T2', interopIdentity(2), registry);
    await openmls.keyPackage();
    await openmls.createGroup(crypto.getRandomValues(new Uint8Array(32)));
    const { welcome } = await openmls.add([await ours.keyPackage()]);
    await ours.join(welcome!);
    return { openmls, ours, ctx };
  }

  it('src/mls refuses an OpenMLS KeyPackage: its credential is a Wire client id, not a device AT-URI', async () => {
    const registry = new InteropRegistry();
    const openmls = await OpenMlsMember.create('O1', interopIdentity(1), registry);
    const ctx = await contextFor(async () => true);
    const mine = await generateKeyPackage(ctx, { identity: interopIdentity(2).device, signatureKeyPair: await generateSignatureKeyPair(ctx.suite) });
    const state = await createGroup(ctx, { keyPackage: mine.keyPackage, privateKeyPackage: mine.privateKeyPackage });
    const theirs = decodeKeyPackageMessage(new Uint8Array([0, 1, 0, 5, ...(await openmls.keyPackage())]));
    const err: MlsLayerError = await rejection(() => addMembers(ctx, state, [theirs]));
    expect(err.code).toBe('UntrustedCredential');
    openmls.dispose();
  }, 60_000);

  it("OpenMLS refuses src/mls's KeyPackage: core-crypto's groups require x509 support, ours lists basic only", async () => {
    const registry = new InteropRegistry();
    const openmls = await OpenMlsMember.create('O1', interopIdentity(1), registry);
    const ctx = await contextFor(async () => true);
    const mine = await generateKeyPackage(ctx, { identity: interopIdentity(2).device, signatureKeyPair: await generateSignatureKeyPair(ctx.suite) });
    await openmls.keyPackage();
    await openmls.createGroup(crypto.getRandomValues(new Uint8Array(32)));
    const err = await openmls.add([mine.encoded.subarray(4)]).then(() => undefined, (e: unknown) => e);
    expect(describeError(err)).toMatch(/Credentials are not acceptable/);
    openmls.dispose();
  }, 60_000);

  it("OpenMLS refuses src/mls's PrivateMessage commit: core-crypto's wire policy is fixed to plaintext", async () => {
    const { openmls, ours } = await pair();
    const commit = await selfUpdate(ours.context, ours.groupState);
    const err = await openmls.processCommit(commit.commit).then(() => undefined, (e: unknown) => e);
    expect(describeError(err)).toMatch(/wire format is incompatible with the group's wire format policy/);
    openmls.dispose();
  }, 60_000);

  it("src/mls's processCommit refuses OpenMLS's PublicMessage commit", async () => {
    const { openmls, ours } = await pair();
    const { commit } = await openmls.update();
    const err: MlsLayerError = await rejection(() => processCommit(ours.context, ours.groupState, commit));
    expect(err.code).toBe('UnexpectedMessage');
    expect(err.message).toMatch(/expected mls_private_message, got mls_public_message/);
    openmls.dispose();
  }, 60_000);
});
