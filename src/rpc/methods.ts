import { AtmError } from '../errors';
import { assertConvoId } from '../content/convo-route';

/**
 * The typed surface between extension contexts and the background. Each method names who may
 * call it (DESIGN.md boundary 2): a content script runs beside bsky.app's page and is treated
 * as half-trusted, so it may only ask about a conversation's state (and for the ticket of the
 * panel frame it makes); the panel, framed by bsky.app, gets the methods it calls and no more
 * (no sign-in or out, no network settings, no devices: those belong to the popup and options).
 */
export interface ConvoStatus {
  convoId: string;
  encrypted: boolean;
  /** Encrypted messages received and not yet seen in the panel. */
  unread?: number;
}

export type AuthStatus =
  | { signedIn: false }
  | { signedIn: true; did: string; handle: string; pds: string; deviceUri: string };

/** Where this installation looks things up; production defaults, editable for self-hosting. */
export interface NetworkSettings {
  plcUrl: string;
  /** A service answering com.atproto.identity.resolveHandle. */
  handleResolver: string;
  /** `atproto-proxy` target of Bluesky's chat service, e.g. `did:web:api.bsky.chat#bsky_chat`. */
  chatProxy: string;
}

/** One message as the panel shows it: plaintext only ever crosses into extension pages. */
export interface MessageView {
  id: string;
  text: string;
  sentAt: number;
  /** The author's DID and device, as MLS authenticated them. */
  senderDid: string;
  senderDevice: string;
  own: boolean;
  status: 'sending' | 'sent' | 'failed';
}

export interface MemberView {
  did: string;
  handle?: string;
  displayName?: string;
  avatar?: string;
  /** Devices of this member in the encrypted group (CAR-verified device records). */
  devices: Array<{ uri: string; verified: boolean }>;
  /** True when the member publishes no atmessaging device: they get a plain invite DM. */
  withoutExtension: boolean;
  /** The safety number's state (§9), for everyone but you; absent when it could not be checked. */
  safety?: SafetyState;
}

export interface ConvoView {
  status: ConvoStatus;
  messages: MessageView[];
  members: MemberView[];
  /**
   * When this device joined the conversation's encrypted group from an invite (ms), rather than
   * creating it: what was sent before cannot be decrypted here. Absent when it created the group.
   */
  joinedAt?: number;
}

/** One of the signed-in account's devices, as its repo lists it (options page). */
export interface DeviceView {
  rkey: string;
  uri: string;
  name?: string;
  createdAt?: string;
  /** This browser profile: removed by signing out, not by revoking. */
  thisDevice: boolean;
  /** False when the record does not match the device lexicon. */
  readable: boolean;
  keyPackages: number;
}

export interface BackgroundInfo {
  version: string;
  startedAt: number;
}

export interface RpcMethods {
  'background.info': { params: Record<string, never>; result: BackgroundInfo };
  'convo.status': { params: { convoId: string }; result: ConvoStatus };
  'convo.setEncrypted': {
    params: { convoId: string; encrypted: boolean };
    result: ConvoStatus;
  };
  'auth.status': { params: Record<string, never>; result: AuthStatus };
  'auth.signIn': { params: { identifier: string; appPassword: string }; result: AuthStatus };
  /** Wipes this device's keys and state; `confirm` must be true (the UI asked the user). */
  'auth.signOut': { params: { confirm: true }; result: AuthStatus };
  'settings.network': { params: Record<string, never>; result: NetworkSettings };
  'settings.setNetwork': { params: NetworkSettings; result: NetworkSettings };
  'convo.view': { params: { convoId: string }; result: ConvoView };
  'convo.send': { params: { convoId: string; text: string }; result: MessageView };
  'convo.retry': { params: { convoId: string; messageId: string }; result: ConvoView };
  /** Sends the member a plain DM explaining how to read the encrypted conversation. */
  'convo.invite': { params: { convoId: string; did: string }; result: { sent: true } };
  'convo.markRead': { params: { convoId: string }; result: ConvoStatus };

  // This account's devices (options page).
  'devices.list': { params: Record<string, never>; result: { devices: DeviceView[] } };
  /**
   * Deletes another device's record and key packages from the account's repo; `confirm` must be
   * true (the UI asked the user). This device is refused with `ThisDevice`: sign out instead.
   */
  'devices.revoke': { params: { rkey: string; confirm: true }; result: { rkey: string; keyPackagesDeleted: number } };

  /**
   * A single-use ticket for the panel frame the content script is about to make, bound to its
   * tab (src/rpc/panel-tickets.ts): the frame's URL carries it, and the background admits a
   * framed page as the panel only with it.
   */
  'panel.ticket': { params: Record<string, never>; result: { ticket: string } };
}

export type Method = keyof RpcMethods;
export type Params<M extends Method> = RpcMethods[M]['params'];
export type Result<M extends Method> = RpcMethods[M]['result'];

/**
 * Who is on the other end of a port, as established by the browser (never by the message), see
 * src/rpc/sender.ts: a page of ours that nothing frames (popup, options, an extension tab); our
 * panel, framed inside a bsky.app tab and admitted by its ticket; our content script.
 */
export type Caller = 'extension-page' | 'panel' | 'content-script';

interface MethodSpec<M extends Method> {
  callers: readonly Caller[];
  /** Parses untrusted params; throws `BadRequest`/typed errors on anything unexpected. */
  parse(params: unknown): Params<M>;
}

function record(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new AtmError('BadRequest', 'params must be an object');
  }
  return params as Record<string, unknown>;
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new AtmError('BadRequest', 'unexpected param', { key });
  }
}

function noParams(params: unknown): Record<string, never> {
  onlyKeys(record(params), []);
  return {};
}

function text(value: unknown, name: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new AtmError('BadRequest', `${name} must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

function httpUrl(value: unknown, name: string): string {
  const s = text(value, name, 2048);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new AtmError('BadRequest', `${name} must be a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname))) {
    throw new AtmError('BadRequest', `${name} must be https (http only on loopback)`);
  }
  return s.replace(/\/$/, '');
}

const DID = /^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9.-]+(%3A[0-9]{1,5})?)$/;
const MESSAGE_ID = /^[0-9a-f]{32}$/;
// AT Protocol TID syntax: 13 base32-sortable characters, the first with the top bit clear.
const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;

function convoOnly(params: unknown): { convoId: string } {
  const p = record(params);
  onlyKeys(p, ['convoId']);
  return { convoId: assertConvoId(p.convoId) };
}

export const METHODS: { [M in Method]: MethodSpec<M> } = {
  ...contactMethods(),
  'background.info': {
    callers: ['extension-page', 'panel'],
    parse(params) {
      onlyKeys(record(params), []);
      return {};
    },
  },
  'convo.status': {
    callers: ['extension-page', 'panel', 'content-script'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId']);
      return { convoId: assertConvoId(p.convoId) };
    },
  },
  'convo.setEncrypted': {
    callers: ['extension-page', 'panel'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId', 'encrypted']);
      if (typeof p.encrypted !== 'boolean') {
        throw new AtmError('BadRequest', 'encrypted must be a boolean');
      }
      return { convoId: assertConvoId(p.convoId), encrypted: p.encrypted };
    },
  },
  // The panel reads who is signed in (to tell its own messages and say "sign in from the
  // toolbar"); signing in or out happens in the popup only.
  'auth.status': { callers: ['extension-page', 'panel'], parse: noParams },
  'auth.signIn': {
    callers: ['extension-page'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['identifier', 'appPassword']);
      return { identifier: text(p.identifier, 'identifier', 253).trim(), appPassword: text(p.appPassword, 'appPassword', 256) };
    },
  },
  'auth.signOut': {
    callers: ['extension-page'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['confirm']);
      if (p.confirm !== true) throw new AtmError('BadRequest', 'sign-out must be confirmed');
      return { confirm: true };
    },
  },
  'settings.network': { callers: ['extension-page'], parse: noParams },
  'settings.setNetwork': {
    callers: ['extension-page'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['plcUrl', 'handleResolver', 'chatProxy']);
      const chatProxy = text(p.chatProxy, 'chatProxy', 512);
      const [did, fragment] = chatProxy.split('#');
      if (!DID.test(did ?? '') || !fragment || !/^[a-zA-Z0-9_-]{1,64}$/.test(fragment)) {
        throw new AtmError('BadRequest', 'chatProxy must be <did>#<service id>');
      }
      return { plcUrl: httpUrl(p.plcUrl, 'plcUrl'), handleResolver: httpUrl(p.handleResolver, 'handleResolver'), chatProxy };
    },
  },
  'convo.view': { callers: ['extension-page', 'panel'], parse: convoOnly },
  'convo.send': {
    callers: ['extension-page', 'panel'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId', 'text']);
      // The grapheme limit is checked where the content is built (protocol/content.ts).
      return { convoId: assertConvoId(p.convoId), text: text(p.text, 'text', 10_000) };
    },
  },
  'convo.retry': {
    callers: ['extension-page', 'panel'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId', 'messageId']);
      if (typeof p.messageId !== 'string' || !MESSAGE_ID.test(p.messageId)) {
        throw new AtmError('BadRequest', 'not a message id');
      }
      return { convoId: assertConvoId(p.convoId), messageId: p.messageId };
    },
  },
  'convo.invite': {
    callers: ['extension-page', 'panel'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['convoId', 'did']);
      if (typeof p.did !== 'string' || !DID.test(p.did)) throw new AtmError('BadRequest', 'not a DID');
      return { convoId: assertConvoId(p.convoId), did: p.did };
    },
  },
  'convo.markRead': { callers: ['extension-page', 'panel'], parse: convoOnly },

  // This account's devices: unframed extension pages only (the options page lists and revokes);
  // neither the panel nor a content script may.
  'devices.list': { callers: ['extension-page'], parse: noParams },
  'devices.revoke': {
    callers: ['extension-page'],
    parse(params) {
      const p = record(params);
      onlyKeys(p, ['rkey', 'confirm']);
      if (p.confirm !== true) throw new AtmError('BadRequest', 'revoking a device must be confirmed');
      // Device records are keyed by TID (lexicons/org/atmessaging/device.json).
      if (typeof p.rkey !== 'string' || !TID.test(p.rkey)) throw new AtmError('BadRequest', 'not a device id');
      return { rkey: p.rkey, confirm: true };
    },
  },

  // The content script's, for the one frame it makes; no page of ours needs a ticket.
  'panel.ticket': { callers: ['content-script'], parse: noParams },
};

// ---------------------------------------------------------------------------------------------
// Key-change safety (docs/protocol.md §9): safety numbers and their verification, for the
// extension's own pages: the panel's members list verifies contacts. The merged declaration
// adds these methods to RpcMethods.

/** unverified: never verified; verified: the contact's devices are the ones verified; changed: not. */
export type SafetyState = 'unverified' | 'verified' | 'changed';

export interface SafetyNumberView {
  did: string;
  /** 12 groups of 5 digits, the same on both sides. */
  groups: string[];
  /** Text of the QR code to show (versioned, both fingerprints). */
  qr: string;
  /** The contact's fingerprint (hex): `contact.verify` takes it back, so only what was shown is verified. */
  fingerprint: string;
  state: SafetyState;
  verifiedAt?: number;
  /** The contact's devices proven by their repo, and listed device records that failed the proof. */
  devices: number;
  rejected: number;
}

export interface ContactSafetyView {
  did: string;
  state: SafetyState;
  verifiedAt?: number;
}

export interface RpcMethods {
  'contact.safetyNumber': { params: { did: string }; result: SafetyNumberView };
  /** Fails with `SafetyNumberChanged` when `fingerprint` is no longer the contact's current one. */
  'contact.verify': { params: { did: string; fingerprint: string }; result: ContactSafetyView };
  'contact.unverify': { params: { did: string }; result: ContactSafetyView };
}

function did(value: unknown): string {
  if (typeof value !== 'string' || !DID.test(value)) throw new AtmError('BadRequest', 'not a DID');
  return value;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

function didOnly(params: unknown): { did: string } {
  const p = record(params);
  onlyKeys(p, ['did']);
  return { did: did(p.did) };
}

function contactMethods(): { [M in 'contact.safetyNumber' | 'contact.verify' | 'contact.unverify']: MethodSpec<M> } {
  return {
    'contact.safetyNumber': { callers: ['extension-page', 'panel'], parse: didOnly },
    'contact.verify': {
      callers: ['extension-page', 'panel'],
      parse(params) {
        const p = record(params);
        onlyKeys(p, ['did', 'fingerprint']);
        if (typeof p.fingerprint !== 'string' || !FINGERPRINT.test(p.fingerprint)) {
          throw new AtmError('BadRequest', 'fingerprint must be 64 lowercase hex digits');
        }
        return { did: did(p.did), fingerprint: p.fingerprint };
      },
    },
    'contact.unverify': { callers: ['extension-page', 'panel'], parse: didOnly },
  };
}

export function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(METHODS, name);
}
