import {
  generateKeyPackageWithKey,
  type Capabilities,
  type Extension,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { credentialIdentity, deviceCredential, type SignatureKeyPair } from './credential';
import type { Clock, MlsContext } from './context';
import { MlsLayerError, toMlsLayerError } from './errors';
import { encodeKeyPackageMessage } from './messageCodec';
import { CIPHER_SUITE_ID, CIPHER_SUITE_NAME, type MlsSuite } from './suite';

/**
 * `last_resort_key_package` from draft-ietf-mls-extensions (0x000A, KeyPackage only, empty body):
 * the package a device leaves published for when its pool runs dry, reused rather than deleted.
 * ts-mls 1.6.4 has no name for it but carries numeric extension types through its codecs.
 */
export const LAST_RESORT_EXTENSION_TYPE = 0x000a;

/**
 * `atmessaging_conversation` (private-use range, docs/protocol.md §6.8): a group context
 * extension naming the bsky.app conversation the group encrypts. Every leaf supports it, so
 * ts-mls lets groups carry it.
 */
export const CONVERSATION_EXTENSION_TYPE = 0xf0a7;

export const DEFAULT_KEY_PACKAGE_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;
/** notBefore is backdated so a peer whose clock is a little behind still accepts the package. */
export const KEY_PACKAGE_BACKDATE_MS = 60 * 60 * 1000;

/** What every leaf of ours supports (RFC 9420 §7.2): suite 1, basic credentials, last-resort. */
export function deviceCapabilities(): Capabilities {
  return {
    versions: ['mls10'],
    ciphersuites: [CIPHER_SUITE_NAME],
    extensions: [LAST_RESORT_EXTENSION_TYPE, CONVERSATION_EXTENSION_TYPE],
    proposals: [],
    credentials: ['basic'],
  };
}

export interface KeyPackageLifetime {
  /** Unix milliseconds (whole seconds on the wire). */
  notBefore: number;
  notAfter: number;
}

export interface GenerateKeyPackageParams {
  /** The device record AT-URI (`at://<did>/org.atmessaging.device/<rkey>`). */
  identity: string;
  signatureKeyPair: SignatureKeyPair;
  /** Defaults to [now - 1 h, now + 30 days] by ctx.clock. */
  lifetime?: KeyPackageLifetime;
  lastResort?: boolean;
}

export interface GeneratedKeyPackage {
  keyPackage: KeyPackage;
  /** init, encryption and signature private keys: keep until the package is consumed or expires. */
  privateKeyPackage: PrivateKeyPackage;
  /** The MLSMessage (wire format mls_key_package) to publish. */
  encoded: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2): how a Welcome names this package. */
  reference: Uint8Array;
  lifetime: KeyPackageLifetime;
  lastResort: boolean;
}

export async function generateKeyPackage(
  ctx: Pick<MlsContext, 'suite' | 'clock'>,
  params: GenerateKeyPackageParams,
): Promise<GeneratedKeyPackage> {
  const now = ctx.clock.now();
  const lifetime = params.lifetime ?? {
    notBefore: now - KEY_PACKAGE_BACKDATE_MS,
    notAfter: now + DEFAULT_KEY_PACKAGE_LIFETIME_MS,
  };
  if (!(lifetime.notBefore <= lifetime.notAfter) || lifetime.notBefore < 0) {
    throw new MlsLayerError('InvalidInput', 'key package lifetime is empty', { ...lifetime });
  }
  const lastResort = params.lastResort === true;
  const extensions: Extension[] = lastResort
    ? [{ extensionType: LAST_RESORT_EXTENSION_TYPE, extensionData: new Uint8Array(0) }]
    : [];
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    deviceCredential(params.identity),
    deviceCapabilities(),
    { notBefore: toSeconds(lifetime.notBefore), notAfter: toSeconds(lifetime.notAfter) },
    extensions,
    params.signatureKeyPair,
    ctx.suite.impl,
  );
  return {
    keyPackage: publicPackage,
    privateKeyPackage: privatePackage,
    encoded: encodeKeyPackageMessage(publicPackage),
    reference: await keyPackageReference(ctx.suite, publicPackage),
    lifetime: keyPackageLifetime(publicPackage),
    lastResort,
  };
}

export function keyPackageReference(suite: MlsSuite, keyPackage: KeyPackage): Promise<Uint8Array> {
  return makeKeyPackageRef(keyPackage, suite.impl.hash);
}

export function isLastResort(keyPackage: KeyPackage): boolean {
  return keyPackage.extensions.some((e) => e.extensionType === LAST_RESORT_EXTENSION_TYPE);
}

export function keyPackageLifetime(keyPackage: KeyPackage): KeyPackageLifetime {
  const { notBefore, notAfter } = keyPackage.leafNode.lifetime;
  return { notBefore: toMillis(notBefore), notAfter: toMillis(notAfter) };
}

/** Throws KeyPackageExpired unless notBefore <= now <= notAfter (RFC 9420 §7.2, whole seconds). */
export function checkKeyPackageLifetime(keyPackage: KeyPackage, clock: Clock): void {
  const now = toSeconds(clock.now());
  const { notBefore, notAfter } = keyPackage.leafNode.lifetime;
  if (now < notBefore || now > notAfter) {
    throw new MlsLayerError('KeyPackageExpired', 'key package is outside its lifetime', {
      notBefore: toMillis(notBefore),
      notAfter: toMillis(notAfter),
      now: clock.now(),
    });
  }
}

/**
 * Everything a receiver checks before using someone's KeyPackage (RFC 9420 §10.1) that ts-mls
 * would not check with our clock: suite and version, lifetime, both signatures, a device
 * credential our AS trusts. Returns the credential identity.
 */
export async function validateKeyPackage(ctx: MlsContext, keyPackage: KeyPackage): Promise<string> {
  if (keyPackage.cipherSuite !== CIPHER_SUITE_NAME || keyPackage.version !== 'mls10') {
    throw new MlsLayerError('UnsupportedCipherSuite', 'key package is not for cipher suite 1', {
      cipherSuite: keyPackage.cipherSuite,
      expected: CIPHER_SUITE_ID,
    });
  }
  if (keyPackage.leafNode.leafNodeSource !== 'key_package') {
    throw new MlsLayerError('MlsRejected', 'key package leaf node has the wrong source', {
      leafNodeSource: keyPackage.leafNode.leafNodeSource,
    });
  }
  checkKeyPackageLifetime(keyPackage, ctx.clock);
  let signaturesValid: boolean;
  try {
    signaturesValid =
      (await verifyLeafNodeSignatureKeyPackage(keyPackage.leafNode, ctx.suite.impl.signature)) &&
      (await verifyKeyPackage(keyPackage, ctx.suite.impl.signature));
  } catch (err) {
    throw toMlsLayerError(err, 'validateKeyPackage');
  }
  if (!signaturesValid) {
    throw new MlsLayerError('MlsRejected', 'key package signature is invalid', { kind: 'BadSignature' });
  }
  const identity = credentialIdentity(keyPackage.leafNode.credential);
  if (identity === undefined) {
    throw new MlsLayerError('UntrustedCredential', 'key package credential is not a device AT-URI', {
      credentialType: keyPackage.leafNode.credential.credentialType,
    });
  }
  if ((await ctx.auth(identity, keyPackage.leafNode.signaturePublicKey.slice())) !== true) {
    throw new MlsLayerError('UntrustedCredential', 'the authentication service refused a key package', { identity });
  }
  return identity;
}

function toSeconds(ms: number): bigint {
  return BigInt(Math.floor(ms / 1000));
}

function toMillis(seconds: bigint): number {
  // Lifetimes beyond what a Date can hold (ts-mls's default notAfter is 2^63-1) read as "never".
  const ms = seconds * 1000n;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}
