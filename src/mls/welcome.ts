import { bytesEqual } from '../bytes';
import { emptyPskIndex, joinGroup as tsJoinGroup, type KeyPackage, type PrivateKeyPackage } from 'ts-mls';
import { runMls, settle, type GroupState, type MlsContext } from './context';
import { MlsLayerError } from './errors';
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


/** The KeyPackageRefs a Welcome holds secrets for: how a device finds which of its packages to use. */
export function welcomeRecipients(welcomeBytes: Uint8Array): Uint8Array[] {
  return decodeWelcomeMessage(welcomeBytes).secrets.map((s) => s.newMember.slice());
}
