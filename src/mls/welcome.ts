import { bytesEqual } from '../bytes';
import { emptyPskIndex, joinGroup as tsJoinGroup, type KeyPackage, type PrivateKeyPackage } from 'ts-mls';
import { ratchetTreeFromExtension } from 'ts-mls/groupInfo.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { runMls, settle, type GroupState, type MlsContext } from './context';
import { credentialIdentity } from './credential';
import { MlsLayerError } from './errors';
import { conversationOf } from './group';
import { keyPackageReference } from './keyPackage';
import { decodeRatchetTreeBytes, decodeWelcomeMessage } from './messageCodec';
import { CIPHER_SUITE_NAME } from './suite';

export interface JoinGroupParams {
  /** MLSMessage (Welcome) bytes. */
  welcome: Uint8Array;
  /** The ratchet tree sent beside the Welcome (ours do not embed it as an extension). */
  ratchetTree?: Uint8Array;
  /** Our KeyPackage that the Welcome answers, with its private keys. */
  keyPackage: KeyPackage;
  privateKeyPackage: PrivateKeyPackage;
}

/**
 * Joins from a Welcome (RFC 9420 §12.4.3.1). ts-mls asks our AS about the GroupInfo signer and
 * every leaf of the tree and checks the tree hash against the signed GroupContext. Whether this
 * Welcome was already used is the caller's to track (a used KeyPackage's private keys are deleted).
 */
export async function joinGroup(ctx: MlsContext, params: JoinGroupParams): Promise<GroupState> {
  const welcome = decodeWelcomeMessage(params.welcome);
  const tree = params.ratchetTree === undefined ? undefined : decodeRatchetTreeBytes(params.ratchetTree);
  if (welcome.cipherSuite !== CIPHER_SUITE_NAME || params.keyPackage.cipherSuite !== CIPHER_SUITE_NAME) {
    throw new MlsLayerError('UnsupportedCipherSuite', 'Welcome is not for cipher suite 1', {
      cipherSuite: welcome.cipherSuite,
    });
  }
  const reference = await keyPackageReference(ctx.suite, params.keyPackage);
  if (!welcome.secrets.some((s) => bytesEqual(s.newMember, reference))) {
    throw new MlsLayerError('WelcomeNotForUs', 'the Welcome holds no secrets for this key package', {
      recipients: welcome.secrets.length,
    });
  }
  const state = await runMls(ctx, 'joinGroup', (config) =>
    tsJoinGroup(welcome, params.keyPackage, params.privateKeyPackage, emptyPskIndex, ctx.suite.impl, tree, undefined, config),
  );
  return settle(ctx, state);
}


/** What a Welcome says before anything in it is checked (`readWelcome`). */
export interface WelcomeSummary {
  groupId: Uint8Array;
  epoch: bigint;
  /** The conversation the group's context names (§6.8), if any. */
  conversation: string | undefined;
  /** The credential identities of the tree's leaves (the tree beside the Welcome, or in it). */
  identities: string[];
}

/**
 * Opens a Welcome for one of our KeyPackages far enough to say which group, epoch and
 * conversation it is for and who is in it: one HPKE open and one AEAD, where joining proves
 * every leaf with the Authentication Service. A device can so refuse an invite it would not keep
 * before paying for the join. Nothing here is checked (no signature, no tree hash): `joinGroup`
 * checks it all, and a caller must not keep what this says unless the join then succeeds.
 */
export async function readWelcome(ctx: MlsContext, params: JoinGroupParams): Promise<WelcomeSummary> {
  const welcome = decodeWelcomeMessage(params.welcome);
  const reference = await keyPackageReference(ctx.suite, params.keyPackage);
  const initKey = await ctx.suite.impl.hpke.importPrivateKey(params.privateKeyPackage.initPrivateKey);
  const unreadable = () => new MlsLayerError('WelcomeNotForUs', 'the Welcome does not open with this key package');
  const secrets = await decryptGroupSecrets(initKey, reference, welcome, ctx.suite.impl.hpke).catch(() => undefined);
  // PSKs are not used here (protocol v1): a Welcome asking for one does not open.
  if (!secrets || secrets.psks.length > 0) throw unreadable();
  const groupInfo = await decryptGroupInfo(welcome, secrets.joinerSecret, new Uint8Array(ctx.suite.impl.kdf.size), ctx.suite.impl).catch(
    () => undefined,
  );
  if (!groupInfo) throw unreadable();
  const tree = params.ratchetTree === undefined ? ratchetTreeFromExtension(groupInfo) : decodeRatchetTreeBytes(params.ratchetTree);
  const identities: string[] = [];
  for (const [i, node] of (tree ?? []).entries()) {
    if (i % 2 !== 0 || node?.nodeType !== 'leaf') continue;
    const identity = credentialIdentity(node.leaf.credential);
    if (identity !== undefined) identities.push(identity);
  }
  return {
    groupId: groupInfo.groupContext.groupId.slice(),
    epoch: groupInfo.groupContext.epoch,
    conversation: conversationOf(groupInfo.groupContext.extensions),
    identities,
  };
}

/** The KeyPackageRefs a Welcome holds secrets for: how a device finds which of its packages to use. */
export function welcomeRecipients(welcomeBytes: Uint8Array): Uint8Array[] {
  return decodeWelcomeMessage(welcomeBytes).secrets.map((s) => s.newMember.slice());
}
