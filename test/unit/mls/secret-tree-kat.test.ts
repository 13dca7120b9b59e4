import { describe, expect, it } from 'vitest';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { ratchetToGeneration } from 'ts-mls/secretTree.js';
import { addMembers, joinGroup, type GroupState, type MlsContext } from '../../../src/mls';
import { buildGroup, everyoneProcesses, hex, keyPackageFor, newDevice } from './helpers';

/*
 * Known answers for the secret tree (RFC 9420 §9), computed here from the key schedule's inputs
 * with @noble/hashes and our own tree math, not with ts-mls's secret tree or key schedule. Each
 * epoch comes from an Add-only commit (no UpdatePath, so commit_secret is all zeros) and no PSKs,
 * so every input is public to the test: the previous epoch's init_secret and the new
 * GroupContext. The states checked come from all three places that start an epoch's tree:
 * creating a commit, processing one, and joining from a Welcome.
 */

const NH = 32; // SHA-256
const NK = 16; // AES-128-GCM key
const NN = 12; // AES-128-GCM nonce

function varint(n: number): Uint8Array {
  if (n < 64) return Uint8Array.of(n);
  if (n < 16384) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  throw new Error('length out of range for this test');
}
const opaque = (b: Uint8Array) => concatBytes(varint(b.length), b);
const uint16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const uint32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** RFC 9420 §8: ExpandWithLabel(Secret, Label, Context, Length). */
function expandWithLabel(secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  const kdfLabel = concatBytes(uint16(length), opaque(utf8(`MLS 1.0 ${label}`)), opaque(context));
  return expand(sha256, secret, kdfLabel, length);
}
const deriveSecret = (secret: Uint8Array, label: string) => expandWithLabel(secret, label, new Uint8Array(0), NH);
const deriveTreeSecret = (secret: Uint8Array, label: string, generation: number, length: number) =>
  expandWithLabel(secret, label, uint32(generation), length);

/** RFC 9420 §8, the key schedule from init_secret to an epoch's secrets (no PSKs). */
function epochSecrets(initSecret: Uint8Array, commitSecret: Uint8Array, groupContext: Uint8Array) {
  // KDF.Extract takes its salt from the top of the diagram and its IKM from the left.
  const joinerSecret = expandWithLabel(extract(sha256, commitSecret, initSecret), 'joiner', groupContext, NH);
  const epochSecret = expandWithLabel(extract(sha256, new Uint8Array(NH), joinerSecret), 'epoch', groupContext, NH);
  return { encryption: deriveSecret(epochSecret, 'encryption'), exporter: deriveSecret(epochSecret, 'exporter') };
}

/** RFC 9420 Appendix C, for a full tree: a node's level is its count of trailing one bits. */
function level(node: number): number {
  let k = 0;
  while (((node >> k) & 1) === 1) k++;
  return k;
}

/** tree_node_[leaf]_secret, walking down from the root (RFC 9420 §9). */
function leafSecret(encryptionSecret: Uint8Array, leafCount: number, leaf: number): Uint8Array {
  let node = leafCount - 1; // the root of a full tree of `leafCount` leaves
  const target = 2 * leaf;
  let secret = encryptionSecret;
  while (node !== target) {
    const k = level(node);
    const goLeft = target < node;
    secret = expandWithLabel(secret, 'tree', utf8(goLeft ? 'left' : 'right'), NH);
    node = goLeft ? node ^ (1 << (k - 1)) : node ^ (3 << (k - 1));
  }
  return secret;
}

/** The key and nonce of (leaf, generation) in the application or handshake ratchet (RFC 9420 §9.1). */
function ratchetKey(encryptionSecret: Uint8Array, leafCount: number, leaf: number, label: 'application' | 'handshake', generation: number) {
  let secret = expandWithLabel(leafSecret(encryptionSecret, leafCount, leaf), label, new Uint8Array(0), NH);
  for (let j = 0; j < generation; j++) secret = deriveTreeSecret(secret, 'secret', j, NH);
  return { key: hex(deriveTreeSecret(secret, 'key', generation, NK)), nonce: hex(deriveTreeSecret(secret, 'nonce', generation, NN)) };
}

/** What the state's own secret tree gives for (leaf, generation), as a receiver derives it. */
async function stateKey(ctx: MlsContext, state: GroupState, leaf: number, contentType: 'application' | 'commit', generation: number) {
  const reuseGuard = new Uint8Array(4) as Uint8Array & { length: 4 }; // a zero guard leaves the nonce as derived
  const result = await ratchetToGeneration(
    state.secretTree,
    { leafIndex: leaf, generation, reuseGuard },
    contentType,
    state.clientConfig.keyRetentionConfig,
    ctx.suite.impl,
  );
  return { key: hex(result.key), nonce: hex(result.nonce) };
}

describe('the secret tree of each epoch (RFC 9420 §9, known answers)', () => {
  it('is rooted at the epoch encryption secret for the committer, for members processing the commit, and for joiners', async () => {
    // Epoch 1: alice adds bob and carol (alice creates the commit, bob and carol join).
    const { ctx, registry, states, initial } = await buildGroup(['alice', 'bob', 'carol']);
    // Epoch 2: alice adds dave (alice creates, bob and carol process, dave joins).
    const dave = await newDevice('dave');
    registry.register(dave);
    const davePackage = await keyPackageFor(ctx, dave);
    const add = await addMembers(ctx, states[0]!, [davePackage.keyPackage]);
    const processed = await everyoneProcesses(ctx, states, 0, add);
    const daveState = await joinGroup(ctx, {
      welcome: add.welcome,
      ratchetTree: add.ratchetTree,
      keyPackage: davePackage.keyPackage,
      privateKeyPackage: davePackage.privateKeyPackage,
    });

    const epochs = [
      { previous: initial, states: states, epoch: 1n },
      { previous: states[0]!, states: [...processed, daveState], epoch: 2n },
    ];
    for (const { previous, states: members, epoch } of epochs) {
      const context = members[0]!.groupContext;
      expect(context.epoch).toBe(epoch);
      const expected = epochSecrets(previous.keySchedule.initSecret, new Uint8Array(NH), encodeGroupContext(context));
      const leafCount = (members[0]!.ratchetTree.length + 1) / 2;
      for (const state of members) {
        // The independent key schedule reaches the same epoch as ts-mls's (checked on a secret
        // the secret tree does not touch), so the expected tree below is the epoch's real one.
        expect(hex(state.keySchedule.exporterSecret)).toBe(hex(expected.exporter));
        for (let leaf = 0; leaf < members.length; leaf++) {
          for (const generation of [0, 3]) {
            expect(await stateKey(ctx, state, leaf, 'application', generation)).toEqual(
              ratchetKey(expected.encryption, leafCount, leaf, 'application', generation),
            );
            expect(await stateKey(ctx, state, leaf, 'commit', generation)).toEqual(
              ratchetKey(expected.encryption, leafCount, leaf, 'handshake', generation),
            );
          }
        }
        // And not the tree of an all-zero root, which is public to everyone.
        expect(await stateKey(ctx, state, 0, 'application', 0)).not.toEqual(
          ratchetKey(new Uint8Array(NH), leafCount, 0, 'application', 0),
        );
      }
    }
  });
});
