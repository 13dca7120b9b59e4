import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { bytesEqual } from '../../../src/bytes';
import { describeMessage } from '../../../src/mls';
import { decodeContent, encodeContent, TEXT_TYPE } from '../../../src/protocol/content';
import { ENVELOPE_OVERHEAD, openEventMessage, sealEnvelope } from '../../../src/protocol/envelope';
import { deriveEpochKeys, importEpochKeys, type EpochKeys } from '../../../src/protocol/epoch-keys';
import { INVITE_OVERHEAD, tryOpenInvite } from '../../../src/protocol/invite';
import { BLOB_BUCKETS, BUCKETS, bucketFor, isSealedLength, pad, unpad } from '../../../src/protocol/padding';
import { EVENT, parseRecord } from '../../../src/protocol/records';
import {
  consumeTag,
  createTagWindow,
  eventTag,
  matchTag,
  pendingCounters,
  TAG_LENGTH,
  TAG_LOOKAHEAD,
  type TagMatch,
  type TagWindow,
} from '../../../src/protocol/tags';
import { canonical } from '../lib/canonical';
import { encodeLoose, type Loose } from '../lib/cbor';
import { bobState, fixtureContext, localDevice, mlsFixture } from '../lib/fixtures';
import { ACCEPTED, check, fail, rejected, type FuzzTarget, type Verdict } from '../lib/harness';
import { mutateBytes, mutateOrKeep } from '../lib/mutate-bytes';
import { hostileValue } from '../lib/mutate-value';
import type { Rng } from '../lib/prng';

// ---------------------------------------------------------------------------------------------
// Padding (docs/protocol.md §6.2)

interface PaddingCase {
  mode: 'roundtrip' | 'unpad';
  bytes: Uint8Array;
  overhead: number;
  ops: string[];
}

const LARGEST_BLOB = BLOB_BUCKETS[BLOB_BUCKETS.length - 1]!;

/** Lengths next to every bucket edge (the last that fits, the first that does not). */
function edgeLength(rng: Rng, overhead: number): number {
  const bucket = rng.pick([...BUCKETS, ...(rng.chance(0.1) ? BLOB_BUCKETS : [])]);
  return Math.max(0, bucket - overhead - 4 + rng.pick([-1, 0, 1]));
}

export const padding: FuzzTarget<PaddingCase> = {
  name: 'padding',
  allowed: ['InvalidEnvelope', 'PayloadTooLarge'],
  generate(rng) {
    const overhead = rng.pick([ENVELOPE_OVERHEAD, INVITE_OVERHEAD]);
    if (rng.chance(0.4)) {
      const length = rng.chance(0.5) ? edgeLength(rng, overhead) : rng.int(3000);
      return { mode: 'roundtrip', bytes: rng.bytes(length), overhead, ops: [`length ${length}`] };
    }
    // A message that fits (the edge itself at most): what a sender pads, then altered.
    const fits = (n: number) => Math.min(n, LARGEST_BLOB - overhead - 4);
    const message = rng.bytes(rng.chance(0.8) ? rng.int(600) : fits(edgeLength(rng, overhead)));
    const m = mutateBytes(rng, pad(message, overhead));
    return { mode: 'unpad', bytes: m.bytes, overhead, ops: [`message ${message.length}`, ...m.ops] };
  },
  async run({ mode, bytes, overhead }) {
    if (mode === 'roundtrip') {
      const padded = pad(bytes, overhead);
      const bucket = padded.length + overhead;
      check(isSealedLength(bucket), `padded to ${bucket}, not a bucket`);
      check(bucket === bucketFor(bytes.length, overhead), 'not the smallest bucket that fits');
      check(bytesEqual(unpad(padded), bytes), 'pad/unpad does not round-trip');
      return ACCEPTED;
    }
    const payload = unpad(bytes);
    // Accepted: the input must be exactly uint32(len) || payload || zeros.
    const again = new Uint8Array(bytes.length);
    new DataView(again.buffer).setUint32(0, payload.length);
    again.set(payload, 4);
    check(bytesEqual(again, bytes), 'unpad accepted a plaintext that is not length || payload || zeros');
    return ACCEPTED;
  },
  describe: ({ mode, overhead, ops }) => `${mode} overhead=${overhead} ${ops.join('; ')}`,
};

// ---------------------------------------------------------------------------------------------
// Tags (§6.4)

let tagState: Promise<{ tagKey: CryptoKey; window: TagWindow }> | undefined;
function tags() {
  tagState ??= (async () => {
    const { tagKey } = await importEpochKeys(new Uint8Array(32).fill(7), new Uint8Array(32).fill(9));
    return { tagKey, window: await createTagWindow(tagKey, [0, 1, 2, 5]) };
  })();
  return tagState;
}

const LEAVES: unknown[] = [0, 1, 2, 5, 3, -1, 1.5, NaN, Infinity, 2 ** 32 - 1, 2 ** 32, 2 ** 53, '1', null];
const COUNTERS: unknown[] = [0, 1, 63, 64, 65, 127, -1, 0.5, NaN, 2 ** 53 - 1, 2 ** 53, 2n ** 64n - 1n, 2n ** 64n, -1n, 5n, '3'];

type TagCase =
  | { kind: 'eventTag'; leaf: unknown; counter: unknown }
  | { kind: 'match'; tag: unknown; ops: string[] }
  | { kind: 'consume'; match: TagMatch; steps: number }
  | { kind: 'window'; leaves: unknown[] };

export const tagTarget: FuzzTarget<TagCase> = {
  name: 'tags',
  allowed: ['InvalidInput', 'NoMatch'],
  async generate(rng) {
    const { window } = await tags();
    const kind = rng.pick(['eventTag', 'match', 'match', 'consume', 'window'] as const);
    if (kind === 'eventTag') return { kind, leaf: rng.pick(LEAVES), counter: rng.pick(COUNTERS) };
    if (kind === 'match') {
      const leaf = rng.pick(window.leaves);
      const i = rng.int(TAG_LOOKAHEAD);
      const bytes = leaf.tags.slice(i * TAG_LENGTH, (i + 1) * TAG_LENGTH);
      if (rng.chance(0.15)) return { kind, tag: hostileValue(rng, 'clone'), ops: ['hostile'] };
      if (rng.chance(0.2)) return { kind, tag: bytes, ops: ['genuine'] };
      const m = mutateBytes(rng, bytes);
      return { kind, tag: m.bytes, ops: m.ops };
    }
    if (kind === 'consume') {
      const leaf = rng.pick([0, 1, 2, 5, 3, -1]);
      const counter = rng.pick([0, 1, 62, 63, 64, 100, -1, 0.5, 2 ** 53]);
      return { kind, match: { leaf, counter }, steps: rng.range(1, 3) };
    }
    const leaves = Array.from({ length: rng.range(0, 5) }, () => rng.pick(LEAVES));
    return { kind, leaves };
  },
  async run(input): Promise<Verdict> {
    const { tagKey, window } = await tags();
    if (input.kind === 'eventTag') {
      const tag = await eventTag(tagKey, input.leaf as number, input.counter as number);
      check(tag instanceof Uint8Array && tag.length === 16, 'a tag is not 16 bytes');
      const wide = typeof input.counter === 'bigint' ? input.counter : BigInt(input.counter as number);
      check(bytesEqual(tag, await eventTag(tagKey, input.leaf as number, wide)), 'number and bigint counters give different tags');
      return ACCEPTED;
    }
    if (input.kind === 'match') {
      const match = matchTag(window, input.tag as Uint8Array);
      if (!match) return rejected('NoMatch');
      const expected = await eventTag(tagKey, match.leaf, match.counter);
      check(bytesEqual(expected, input.tag as Uint8Array), 'matchTag matched a tag that is not the one for its leaf and counter');
      return ACCEPTED;
    }
    if (input.kind === 'window') {
      const made = await createTagWindow(tagKey, input.leaves as number[]);
      check(made.leaves.length === input.leaves.length, 'window leaves differ from the members');
      return ACCEPTED;
    }
    // consume: a match that is not pending is refused; a pending one slides the window.
    const before = canonical(window);
    let w = window;
    for (let step = 0; step < input.steps; step++) {
      const match = { leaf: input.match.leaf, counter: input.match.counter + step };
      const next = await consumeTag(tagKey, w, match);
      check(canonical(window) === before, 'consumeTag changed its input window');
      const leaf = next.leaves.find((l) => l.leaf === match.leaf)!;
      const pending = pendingCounters(next, match.leaf);
      check(!pending.includes(match.counter), 'a consumed counter is still pending');
      check(matchTag(next, await eventTag(tagKey, match.leaf, match.counter)) === undefined, 'a consumed tag still matches');
      check(leaf.highest === Math.max(w.leaves.find((l) => l.leaf === match.leaf)!.highest, match.counter), 'highest is wrong');
      for (const counter of pending) {
        check(
          matchTag(next, await eventTag(tagKey, leaf.leaf, counter))?.counter === counter,
          'a pending counter\'s tag does not match it',
        );
        check(counter > leaf.highest - TAG_LOOKAHEAD && counter <= leaf.highest + TAG_LOOKAHEAD, 'a pending counter is out of the window');
      }
      w = next;
    }
    return ACCEPTED;
  },
  describe: (input) => canonical(input, 8).slice(0, 300),
};

// ---------------------------------------------------------------------------------------------
// Envelopes (§6.3)

let epochKeys: Promise<EpochKeys> | undefined;
/** Bob's keys for epoch 1 of the fixture group: what every member derives alike. */
export function fixtureEpochKeys(): Promise<EpochKeys> {
  epochKeys ??= fixtureContext().then((ctx) => deriveEpochKeys(ctx, bobState(ctx)));
  return epochKeys;
}

const EVENT_NAMES = ['application', 'update', 'add', 'remove'] as const;

function fixtureEvent(name: (typeof EVENT_NAMES)[number] | 'invite') {
  return parseRecord(EVENT, mlsFixture().events[name]);
}

/** The MLS messages inside the fixture's events, plus other kinds (a Welcome, a KeyPackage). */
function innerSamples(): Uint8Array[] {
  const g = mlsFixture().group;
  return [g.application, g.commits.update, g.commits.add, g.commits.remove, g.welcome, mlsFixture().keyPackages.dave.encoded];
}

interface EnvelopeCase {
  sample: (typeof EVENT_NAMES)[number];
  tag: Uint8Array;
  ciphertext: Uint8Array;
  ops: string[];
}

/** Sealed events as published, altered in transit or by their author's PDS: must not open. */
export const envelopeOuter: FuzzTarget<EnvelopeCase> = {
  name: 'envelope.outer',
  allowed: ['InvalidEnvelope', 'MlsDecode', 'UnexpectedMessage', 'WrongGroup'],
  generate(rng) {
    const sample = rng.pick(EVENT_NAMES);
    const event = fixtureEvent(sample);
    const others = EVENT_NAMES.map((n) => fixtureEvent(n).ciphertext!);
    if (rng.chance(0.2)) {
      const m = mutateBytes(rng, event.tag);
      return { sample, tag: m.bytes, ciphertext: event.ciphertext!, ops: m.ops.map((o) => `tag ${o}`) };
    }
    const m = mutateOrKeep(rng, event.ciphertext!, others);
    return { sample, tag: event.tag, ciphertext: m.bytes, ops: m.ops };
  },
  async run({ sample, tag, ciphertext }) {
    const opened = await openEventMessage(await fixtureEpochKeys(), tag, ciphertext);
    // AEAD: anything that opens is the original.
    const original = sample === 'application' ? mlsFixture().group.application : mlsFixture().group.commits[sample];
    check(bytesEqual(opened.message, original), 'an altered envelope opened to other bytes');
    return ACCEPTED;
  },
  describe: ({ sample, ops }) => `${sample}: ${ops.join('; ')}`,
};

interface InnerCase {
  payload: Uint8Array;
  ops: string[];
}

/**
 * A member holding the epoch's envelope key seals whatever it likes: the payload must be one
 * strictly decoded PrivateMessage of this group and epoch, or a typed refusal.
 */
export const envelopeInner: FuzzTarget<InnerCase> = {
  name: 'envelope.inner',
  allowed: ['InvalidEnvelope', 'MlsDecode', 'UnexpectedMessage', 'WrongGroup', 'PayloadTooLarge'],
  generate(rng) {
    const samples = innerSamples();
    const m = mutateBytes(rng, rng.pick(samples), samples);
    return { payload: m.bytes, ops: m.ops };
  },
  async run({ payload }) {
    const keys = await fixtureEpochKeys();
    const tag = new Uint8Array(16).fill(1);
    const opened = await openEventMessage(keys, tag, await sealEnvelope(keys.envelopeKey, tag, payload));
    check(bytesEqual(opened.message, payload), 'the opened message differs from what was sealed');
    const summary = describeMessage(opened.message);
    check(summary.kind === 'privateMessage' && summary.epoch === keys.epoch && bytesEqual(summary.groupId, keys.groupId), 'accepted a message of another kind, group or epoch');
    check(summary.contentType === opened.contentType, 'content type misreported');
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; '),
};

// ---------------------------------------------------------------------------------------------
// Stealth invites (§6.6)

let bobInviteKey: Promise<CryptoKey> | undefined;
function inviteKey(): Promise<CryptoKey> {
  bobInviteKey ??= localDevice(mlsFixture().devices.bob).then((d) => d.invite.privateKey);
  return bobInviteKey;
}

interface InviteCase {
  tag: Uint8Array;
  ciphertext: Uint8Array;
  ops: string[];
}

export const inviteOuter: FuzzTarget<InviteCase> = {
  name: 'invite.outer',
  allowed: ['InvalidEnvelope', 'NotForUs'],
  generate(rng) {
    const event = fixtureEvent('invite');
    const others = EVENT_NAMES.map((n) => fixtureEvent(n).ciphertext!);
    if (rng.chance(0.2)) {
      const m = mutateBytes(rng, event.tag);
      return { tag: m.bytes, ciphertext: event.ciphertext!, ops: m.ops.map((o) => `tag ${o}`) };
    }
    const m = mutateOrKeep(rng, event.ciphertext!, others);
    return { tag: event.tag, ciphertext: m.bytes, ops: m.ops };
  },
  async run({ tag, ciphertext }) {
    const opened = await tryOpenInvite(await inviteKey(), tag, ciphertext);
    if (!opened) return rejected('NotForUs');
    const e = mlsFixture().events;
    check(
      opened.kind === 'direct' && bytesEqual(opened.welcome, e.inviteWelcome) && bytesEqual(opened.ratchetTree, e.inviteRatchetTree),
      'an altered invite opened to other bytes',
    );
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; '),
};

// The invite's HPKE parameters and labels (docs/protocol.md §6.6), to seal arbitrary payloads
// to bob as a malicious inviter would.
const hpke = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
const ascii = (s: string) => new TextEncoder().encode(s);

export async function sealRawInvite(recipient: Uint8Array, padded: Uint8Array): Promise<{ tag: Uint8Array; ciphertext: Uint8Array }> {
  const recipientPublicKey = await hpke.kem.deserializePublicKey(recipient);
  const sender = await hpke.createSenderContext({ recipientPublicKey, info: ascii('atmessaging/v1 invite') });
  const tag = new Uint8Array(await sender.export(ascii('atmessaging/v1 invite tag'), 16));
  const aad = new Uint8Array([...ascii('atmessaging/v1 event'), ...tag]);
  const sealed = new Uint8Array(await sender.seal(padded as Uint8Array<ArrayBuffer>, aad));
  return { tag, ciphertext: new Uint8Array([...new Uint8Array(sender.enc), ...sealed]) };
}

function invitePayload(welcome: Uint8Array, tree: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + welcome.length + tree.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, welcome.length);
  out.set(welcome, 4);
  view.setUint32(4 + welcome.length, tree.length);
  out.set(tree, 8 + welcome.length);
  return out;
}

interface InviteInnerCase {
  layer: 'payload' | 'padded';
  bytes: Uint8Array;
  ops: string[];
}

/** Invites sealed to bob's real invite key with malformed payloads (lengths, padding). */
export const inviteInner: FuzzTarget<InviteInnerCase> = {
  name: 'invite.inner',
  allowed: ['InvalidEnvelope', 'PayloadTooLarge', 'NotForUs'],
  generate(rng) {
    const e = mlsFixture().events;
    const payload = invitePayload(e.inviteWelcome, e.inviteRatchetTree);
    if (rng.chance(0.6)) {
      const m = mutateBytes(rng, payload);
      return { layer: 'payload', bytes: m.bytes, ops: m.ops };
    }
    const m = mutateBytes(rng, pad(payload, INVITE_OVERHEAD));
    return { layer: 'padded', bytes: m.bytes, ops: m.ops };
  },
  async run({ layer, bytes }) {
    const padded = layer === 'payload' ? pad(bytes, INVITE_OVERHEAD) : bytes;
    const sealed = await sealRawInvite(mlsFixture().devices.bob.invite.publicKey, padded);
    if (!isSealedLength(sealed.ciphertext.length)) {
      // Not a bucket length: not an event at all (§6.3); tryOpenInvite must pass it over.
      const opened = await tryOpenInvite(await inviteKey(), sealed.tag, sealed.ciphertext);
      check(opened === undefined, 'an invite of a non-bucket length was opened');
      return rejected('NotForUs');
    }
    const opened = await tryOpenInvite(await inviteKey(), sealed.tag, sealed.ciphertext);
    if (!opened) return fail('an invite sealed to our key was not recognised');
    const inner = layer === 'payload' ? bytes : unpad(bytes);
    if (opened.kind === 'bundle') {
      // uint32(0) || rkey (13) || key (32): the reference form, which must re-encode exactly.
      const again = new Uint8Array(49);
      again.set(new TextEncoder().encode(opened.rkey), 4);
      again.set(opened.key, 17);
      check(bytesEqual(again, inner), 'the opened bundle reference does not re-encode to the payload');
      return ACCEPTED;
    }
    const again = invitePayload(opened.welcome, opened.ratchetTree);
    check(bytesEqual(again, inner), 'the opened Welcome and tree do not re-encode to the payload');
    check(opened.welcome.length > 0 && opened.ratchetTree.length > 0, 'an empty Welcome or tree was accepted');
    return ACCEPTED;
  },
  describe: ({ layer, ops }) => `${layer}: ${ops.join('; ')}`,
};

// ---------------------------------------------------------------------------------------------
// Content (§7)

interface ContentCase {
  bytes: Uint8Array;
  ops: string[];
}

function contentSamples(): Uint8Array[] {
  const now = mlsFixture().now;
  return [
    mlsFixture().group.content,
    encodeContent({ $type: TEXT_TYPE, id: '0'.repeat(32), text: 'é👩‍👩‍👧'.repeat(100), sentAt: now }),
    encodeContent({ $type: TEXT_TYPE, id: 'a'.repeat(32), text: 'x'.repeat(1000), sentAt: 0 }),
  ];
}

/** A content object written with hostile CBOR: each field's encoding chosen independently. */
function confusedContent(rng: Rng): { bytes: Uint8Array; ops: string[] } {
  const ops: string[] = [];
  const field = (name: string, normal: Loose): Loose => {
    const choice = rng.weighted([
      [6, 'normal'],
      [1, 'bytes'],
      [1, 'tag'],
      [1, 'indefinite'],
      [1, 'float'],
      [1, 'hostile'],
      [1, 'undefined'],
    ] as const);
    if (choice !== 'normal') ops.push(`${name}:${choice}`);
    if (choice === 'normal') return normal;
    if (choice === 'bytes') return typeof normal === 'string' ? new TextEncoder().encode(normal) : normal;
    if (choice === 'tag') return { tag: rng.pick([0, 1, 2, 42, 55799]), value: normal };
    if (choice === 'indefinite') {
      return typeof normal === 'string'
        ? { indefinite: 'text', items: [normal.slice(0, 3), normal.slice(3)] }
        : { indefinite: 'array', items: [normal] };
    }
    if (choice === 'float') return { float: typeof normal === 'number' ? normal : 1.5, width: rng.pick([2, 4, 8] as const) };
    if (choice === 'undefined') return undefined;
    const h = hostileValue(rng, 'clone');
    return h instanceof Uint8Array || ['string', 'number', 'boolean'].includes(typeof h) || h === null ? (h as Loose) : [];
  };
  const entries: Array<[Loose, Loose]> = [
    ['$type', field('$type', TEXT_TYPE)],
    ['id', field('id', 'f'.repeat(32))],
    ['text', field('text', 'hello')],
    ['sentAt', field('sentAt', mlsFixture().now)],
  ];
  if (rng.chance(0.15)) {
    ops.push('duplicate key');
    entries.push([rng.pick(['text', 'id', '$type']), 'shadow']);
  }
  if (rng.chance(0.15)) {
    ops.push('unsorted');
    entries.reverse();
  }
  if (rng.chance(0.1)) {
    ops.push('extra key');
    entries.push([rng.pick(['facets', '', 'x']), 1]);
  }
  if (rng.chance(0.1)) {
    ops.push('missing key');
    entries.splice(rng.int(entries.length), 1);
  }
  const map: Loose = rng.chance(0.1) ? { indefinite: 'map', items: entries.flat() } : { map: entries };
  if (rng.chance(0.1)) ops.push('wide heads');
  return { bytes: encodeLoose(map, { rng, wide: rng.chance(0.1) ? 0.5 : 0 }), ops };
}

export const content: FuzzTarget<ContentCase> = {
  name: 'content',
  allowed: ['InvalidEnvelope'],
  generate(rng) {
    if (rng.chance(0.5)) return confusedContent(rng);
    const samples = contentSamples();
    const m = mutateBytes(rng, rng.pick(samples), samples);
    return { bytes: m.bytes, ops: m.ops };
  },
  async run({ bytes }) {
    const decoded = decodeContent(bytes);
    // Accepted: it is a valid message, and writes back to something that reads the same.
    const again = decodeContent(encodeContent(decoded));
    check(canonical(again) === canonical(decoded), 'accepted content does not round-trip');
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; '),
};
