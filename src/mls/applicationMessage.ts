import { createApplicationMessage } from 'ts-mls';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { runMls, settle, type GroupState, type MlsContext } from './context';
import { MlsLayerError } from './errors';
import { memberAt, routePrivateMessage, type Member } from './group';
import { encodePrivateMessage } from './messageCodec';

export interface EncryptResult {
  newState: GroupState;
  /** MLSMessage (PrivateMessage) bytes. Persist `newState` before sending, or a restart reuses a key generation. */
  message: Uint8Array;
  consumed: Uint8Array[];
}

/** Encrypts and signs application data for the current epoch (RFC 9420 §6.3). */
export async function encryptApplicationMessage(
  ctx: MlsContext,
  state: GroupState,
  plaintext: Uint8Array,
): Promise<EncryptResult> {
  if (state.groupActiveState.kind !== 'active') {
    throw new MlsLayerError('NotMember', 'this member can no longer send to the group', {
      state: state.groupActiveState.kind,
    });
  }
  const result = await runMls(ctx, 'encryptApplicationMessage', (config) =>
    createApplicationMessage({ ...state, clientConfig: config }, plaintext, ctx.suite.impl),
  );
  return {
    newState: settle(ctx, result.newState),
    message: encodePrivateMessage(result.privateMessage),
    consumed: result.consumed,
  };
}

export interface DecryptResult {
  newState: GroupState;
  plaintext: Uint8Array;
  /**
   * The sender as MLS authenticated it: the leaf index from the decrypted sender data, whose
   * leaf's signature key verified the framed content, and that leaf's credential, taken from the
   * ratchet tree of the message's epoch.
   */
  sender: Member;
  epoch: bigint;
  consumed: Uint8Array[];
}

/**
 * Decrypts an application message of the current epoch or of a retained past one.
 *
 * ts-mls 1.6.4's `processPrivateMessage` returns the plaintext without its sender, so this calls
 * `unprotectPrivateMessage` (what `processPrivateMessage` calls for application data) and takes
 * the sender from the authenticated content it returns.
 */
export async function decryptApplicationMessage(
  ctx: MlsContext,
  state: GroupState,
  message: Uint8Array,
): Promise<DecryptResult> {
  const pm = routePrivateMessage(state, message, 'application');
  const current = pm.epoch === state.groupContext.epoch;
  const receiver = current
    ? {
        senderDataSecret: state.keySchedule.senderDataSecret,
        secretTree: state.secretTree,
        ratchetTree: state.ratchetTree,
        groupContext: state.groupContext,
      }
    : state.historicalReceiverData.get(pm.epoch);
  if (receiver === undefined) {
    throw new MlsLayerError('StaleEpoch', 'message is from an epoch whose keys are gone', { epoch: pm.epoch });
  }
  const result = await runMls(ctx, 'decryptApplicationMessage', (config) =>
    unprotectPrivateMessage(
      receiver.senderDataSecret,
      pm,
      receiver.secretTree,
      receiver.ratchetTree,
      receiver.groupContext,
      config.keyRetentionConfig,
      ctx.suite.impl,
    ),
  );
  const content = result.content.content;
  if (content.contentType !== 'application') {
    throw new MlsLayerError('UnexpectedMessage', 'not an application message', { actual: content.contentType });
  }
  if (content.sender.senderType !== 'member') {
    throw new MlsLayerError('MlsRejected', 'application message from a non-member', { kind: content.sender.senderType });
  }
  const sender = memberAt(receiver.ratchetTree, content.sender.leafIndex);
  let newState: GroupState;
  if (current) {
    newState = { ...state, secretTree: result.tree };
  } else {
    const history = new Map(state.historicalReceiverData);
    const past = state.historicalReceiverData.get(pm.epoch);
    if (past !== undefined) history.set(pm.epoch, { ...past, secretTree: result.tree });
    newState = { ...state, historicalReceiverData: history };
  }
  return {
    newState: settle(ctx, newState),
    plaintext: content.applicationData.slice(),
    sender,
    epoch: pm.epoch,
    consumed: result.consumed,
  };
}
