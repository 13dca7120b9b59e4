/**
 * A Welcome of src/mls re-made with the ratchet tree in its GroupInfo, for OpenMLS joiners.
 *
 * src/mls sends the tree beside its Welcomes (AddMembersResult.ratchetTree); core-crypto 9.3.4's
 * processWelcomeMessage takes a Welcome only and refuses one whose GroupInfo has no
 * `ratchet_tree` extension ("No ratchet tree available to build initial tree after receiving a
 * Welcome message."). Nothing in src/mls's API puts the tree there, so the harness re-makes the
 * Welcome from what the committer holds, changing nothing else:
 *
 *  - joiner_secret (RFC 9420 §8): ExpandWithLabel(Extract(init_secret[n-1], commit_secret),
 *    "joiner", GroupContext[n]). An addMembers commit has Adds only, so no UpdatePath (§12.4:
 *    a path is needed only for an empty commit or one with Removes or Updates) and its
 *    commit_secret is all zeros; init_secret[n-1] is in the state before the commit (src/mls
 *    leaves its input intact) and GroupContext[n] in the state after. No PSKs.
 *  - The GroupInfo is decrypted with the welcome_secret derived from it (so a wrong derivation
 *    fails here, not at the joiner), the extension `ratchet_tree` (§12.4.3.3: the encoded tree,
 *    the bytes src/mls sent beside) is appended, and it is signed again by the committer's
 *    signature key (it is the signer, §12.4.3) and encrypted again.
 *  - The GroupSecrets (joiner_secret, no path_secret, no PSKs) are encrypted again to each
 *    added KeyPackage's init key: their HPKE context is the encrypted GroupInfo, which changed.
 *
 * A commit with an UpdatePath (changeMembers, which always removes someone) has a commit secret
 * and per-joiner path secrets that src/mls zeroes and does not return, so its Welcome cannot be
 * re-made here: an OpenMLS member can join from it only if src/mls could put the tree in the
 * GroupInfo itself (ts-mls's createCommit option `ratchetTreeExtension: true`, which src/mls
 * always sets to false).
 */
import type { KeyPackage } from 'ts-mls';
import { signGroupInfo } from 'ts-mls/groupInfo.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { decryptGroupInfo, encryptGroupInfo, encryptGroupSecrets } from 'ts-mls/welcome.js';
import type { GroupState, MlsContext } from '../../../../src/mls';
import { decodeWelcomeMessage, encodeWelcomeMessage } from '../../../../src/mls/messageCodec';

export async function welcomeWithTree(
  ctx: MlsContext,
  before: GroupState,
  after: GroupState,
  result: { welcome: Uint8Array; ratchetTree: Uint8Array },
  added: KeyPackage[],
): Promise<Uint8Array> {
  const cs = ctx.suite.impl;
  const zeros = new Uint8Array(cs.kdf.size);
  if (after.groupContext.epoch !== before.groupContext.epoch + 1n) throw new Error('welcomeWithTree: not consecutive states');
  const { joinerSecret, welcomeSecret } = await initializeEpoch(before.keySchedule.initSecret, zeros, after.groupContext, zeros, cs.kdf);
  const welcome = decodeWelcomeMessage(result.welcome);
  const groupInfo = await decryptGroupInfo(welcome, joinerSecret, zeros, cs).catch((err: unknown) => {
    throw new Error('welcomeWithTree: the GroupInfo does not open with the joiner secret of an add-only commit', { cause: err });
  });
  if (groupInfo === undefined) throw new Error('welcomeWithTree: the GroupInfo does not decode');
  if (groupInfo.extensions.some((e) => e.extensionType === 'ratchet_tree')) throw new Error('welcomeWithTree: the GroupInfo has a tree already');
  const { signature: _signature, ...tbs } = groupInfo;
  const signed = await signGroupInfo(
    { ...tbs, extensions: [...tbs.extensions, { extensionType: 'ratchet_tree', extensionData: result.ratchetTree.slice() }] },
    after.signaturePrivateKey,
    cs.signature,
  );
  const encryptedGroupInfo = await encryptGroupInfo(signed, welcomeSecret, cs);
  const secrets = [];
  for (const keyPackage of added) {
    const sealed = await encryptGroupSecrets(
      await cs.hpke.importPublicKey(keyPackage.initKey),
      encryptedGroupInfo,
      { joinerSecret, pathSecret: undefined, psks: [] },
      cs.hpke,
    );
    secrets.push({ newMember: await makeKeyPackageRef(keyPackage, cs.hash), encryptedGroupSecrets: { kemOutput: sealed.enc, ciphertext: sealed.ct } });
  }
  joinerSecret.fill(0);
  welcomeSecret.fill(0);
  return encodeWelcomeMessage({ cipherSuite: welcome.cipherSuite, secrets, encryptedGroupInfo });
}
