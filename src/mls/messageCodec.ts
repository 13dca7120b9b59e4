import { decodeMlsMessage, encodeMlsMessage, type Decoder, type KeyPackage, type MLSMessage, type PrivateMessage, type RatchetTree, type Welcome } from 'ts-mls';
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { MlsLayerError } from './errors';

/**
 * Strict TLS decoding (RFC 9420 §6). ts-mls's decoders return `undefined` on some malformed input,
 * throw on truncation, and ignore trailing bytes; here every one of those is an `MlsDecode` error
 * and the whole input must be consumed.
 *
 * ts-mls decodes byte fields as views into the input buffer (`codec/variableLength.js`
 * `decodeVarLenData` uses `subarray`), so the input is copied first: later changes to the caller's
 * buffer must not change decoded state, and zeroing decoded secrets must not touch the caller's bytes.
 */
export function decodeStrict<T>(decoder: Decoder<T>, bytes: Uint8Array, what: string): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new MlsLayerError('MlsDecode', `${what}: not bytes`, { what });
  }
  const copy = bytes.slice();
  let decoded: [T, number] | undefined;
  try {
    decoded = decoder(copy, 0);
  } catch (err) {
    throw new MlsLayerError('MlsDecode', `${what}: malformed or truncated`, { what, length: bytes.length }, { cause: err });
  }
  if (decoded === undefined) {
    throw new MlsLayerError('MlsDecode', `${what}: malformed`, { what, length: bytes.length });
  }
  const [value, consumed] = decoded;
  if (consumed !== copy.length) {
    throw new MlsLayerError('MlsDecode', `${what}: ${copy.length - consumed} trailing bytes`, {
      what,
      length: bytes.length,
      consumed,
    });
  }
  return value;
}

/** Any MLSMessage (RFC 9420 §6): version, wire format, then the body. */
export function decodeMessage(bytes: Uint8Array): MLSMessage {
  const message = decodeStrict(decodeMlsMessage, bytes, 'MLSMessage');
  if (message.version !== 'mls10') {
    throw new MlsLayerError('MlsDecode', 'MLSMessage: unsupported protocol version', { version: message.version });
  }
  return message;
}

export function encodeMessage(message: MLSMessage): Uint8Array {
  return encodeMlsMessage(message);
}

export function decodeKeyPackageMessage(bytes: Uint8Array): KeyPackage {
  const message = decodeMessage(bytes);
  if (message.wireformat !== 'mls_key_package') throw unexpected('mls_key_package', message.wireformat);
  return message.keyPackage;
}

export function encodeKeyPackageMessage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage });
}

export function decodeWelcomeMessage(bytes: Uint8Array): Welcome {
  const message = decodeMessage(bytes);
  if (message.wireformat !== 'mls_welcome') throw unexpected('mls_welcome', message.wireformat);
  return message.welcome;
}

export function encodeWelcomeMessage(welcome: Welcome): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome });
}

/**
 * Group messages (commits and application messages) travel as PrivateMessage only: a
 * PublicMessage would show the sender and content to anyone holding the envelope key.
 */
export function decodePrivateMessage(bytes: Uint8Array): PrivateMessage {
  const message = decodeMessage(bytes);
  if (message.wireformat !== 'mls_private_message') throw unexpected('mls_private_message', message.wireformat);
  return message.privateMessage;
}

export function encodePrivateMessage(privateMessage: PrivateMessage): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage });
}

/** The `ratchet_tree` extension body (RFC 9420 §12.4.3.3), sent beside a Welcome. */
export function decodeRatchetTreeBytes(bytes: Uint8Array): RatchetTree {
  return decodeStrict(decodeRatchetTree, bytes, 'RatchetTree');
}

export function encodeRatchetTreeBytes(tree: RatchetTree): Uint8Array {
  return encodeRatchetTree(tree);
}

/** What the clear MLS framing says about a message, for routing before any decryption. */
export type MessageSummary =
  | { kind: 'privateMessage'; groupId: Uint8Array; epoch: bigint; contentType: 'application' | 'proposal' | 'commit' }
  | { kind: 'welcome'; cipherSuite: string }
  | { kind: 'keyPackage' }
  | { kind: 'publicMessage' }
  | { kind: 'groupInfo' };

export function describeMessage(bytes: Uint8Array): MessageSummary {
  const message = decodeMessage(bytes);
  switch (message.wireformat) {
    case 'mls_private_message': {
      const pm = message.privateMessage;
      return { kind: 'privateMessage', groupId: pm.groupId, epoch: pm.epoch, contentType: pm.contentType };
    }
    case 'mls_welcome':
      return { kind: 'welcome', cipherSuite: message.welcome.cipherSuite };
    case 'mls_key_package':
      return { kind: 'keyPackage' };
    case 'mls_public_message':
      return { kind: 'publicMessage' };
    case 'mls_group_info':
      return { kind: 'groupInfo' };
  }
}

function unexpected(expected: string, actual: string): MlsLayerError {
  return new MlsLayerError('UnexpectedMessage', `expected ${expected}, got ${actual}`, { expected, actual });
}
