/**
 * The MLS layer (RFC 9420 over ts-mls 1.6.4, cipher suite 1): pure functions, state in and state
 * out. Nothing here touches storage or the network; callers persist `newState` before sending
 * what an operation produced.
 */
export { createSuite, CIPHER_SUITE_ID, CIPHER_SUITE_NAME, type MlsSuite } from './suite';
export {
  createSignatureProvider,
  type SignatureProvider,
  type SignatureProviderOptions,
  type SignatureProviderStats,
} from './signatureProvider';
export {
  DEFAULT_KEY_RETENTION,
  type Clock,
  type GroupState,
  type KeyRetention,
  type MlsContext,
} from './context';
export type { AuthenticationService } from './authenticationService';
export {
  credentialIdentity,
  deviceCredential,
  deviceUri,
  DEVICE_COLLECTION,
  generateSignatureKeyPair,
  parseDeviceUri,
  type DeviceIdentity,
  type SignatureKeyPair,
} from './credential';
export {
  checkKeyPackageLifetime,
  DEFAULT_KEY_PACKAGE_LIFETIME_MS,
  KEY_PACKAGE_BACKDATE_MS,
  generateKeyPackage,
  isLastResort,
  keyPackageLifetime,
  keyPackageReference,
  LAST_RESORT_EXTENSION_TYPE,
  CONVERSATION_EXTENSION_TYPE,
  validateKeyPackage,
  type GeneratedKeyPackage,
  type GenerateKeyPackageParams,
  type KeyPackageLifetime,
} from './keyPackage';
export {
  addMembers,
  changeMembers,
  createGroup,
  epoch,
  groupConversation,
  groupId,
  isActive,
  members,
  ownLeafIndex,
  processCommit,
  removeMembers,
  selfUpdate,
  GROUP_ID_LENGTH,
  type AddMembersResult,
  type ChangeMembersResult,
  type CommitResult,
  type CreateGroupParams,
  type Member,
  type ProcessCommitResult,
  type RemoveMembersResult,
} from './group';
export { joinGroup, readWelcome, welcomeRecipients, type JoinGroupParams, type WelcomeSummary } from './welcome';
export {
  decryptApplicationMessage,
  encryptApplicationMessage,
  type DecryptResult,
  type EncryptResult,
} from './applicationMessage';
export { epochAuthenticator, exportSecret } from './exporter';
export { decodeGroupState, encodeGroupState } from './stateCodec';
export {
  decodeKeyPackageMessage,
  describeMessage,
  encodeKeyPackageMessage,
  type MessageSummary,
} from './messageCodec';
export { isMlsLayerError, MlsLayerError, type MlsErrorCode } from './errors';
export type { KeyPackage, PrivateKeyPackage } from 'ts-mls';
